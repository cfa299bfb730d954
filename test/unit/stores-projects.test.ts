import { describe, expect, it } from 'vitest'
import { useProjectsStore } from '../../src/renderer/src/stores/projects'
import { appError, setup } from './stores-fake'

const info = (dir: string, name: string) => ({ dir, name, createdAt: 'c', updatedAt: 'u', settings: { inputSize: 224, resizeMode: 'squash' as const, background: '#ffffff', channels: 3 as const }, state: {} })

describe('projects store', () => {
  it('creates a project, makes it current and refreshes the recent list', async () => {
    const fake = setup({
      'projects.create': ({ name }) => info(`/ws/${name}`, name),
      'projects.recent': () => [{ dir: '/ws/Cats', name: 'Cats', openedAt: 'now', available: true }],
    })
    const s = useProjectsStore()
    const p = await s.create('Cats')
    expect(p?.dir).toBe('/ws/Cats')
    expect(s.current?.name).toBe('Cats')
    expect(s.isOpen).toBe(true)
    expect(s.recent.map((r) => r.name)).toEqual(['Cats'])
    expect(fake.calls.map((c) => c.method)).toEqual(['projects.create', 'projects.recent'])
    expect(fake.calls[0].args).toEqual({ name: 'Cats', parent: undefined })
  })

  it('shows a service error inline with its hint and keeps the previous project', async () => {
    setup({ 'projects.open': () => { throw appError('PROJECT_DAMAGED', '/x/project.json is damaged: bad JSON.', 'Fix or restore the file.') } })
    const s = useProjectsStore()
    expect(await s.open('/x')).toBeUndefined()
    expect(s.current).toBeNull()
    expect(s.error).toEqual({ message: '/x/project.json is damaged: bad JSON.', hint: 'Fix or restore the file.' })
    expect(s.busy).toBe(false)
  })

  it('surfaces an unmocked (unexpected) call as an error instead of succeeding', async () => {
    setup({})
    const s = useProjectsStore()
    await s.loadRecent()
    expect(s.error?.message).toMatch(/Unmocked bridge call projects\.recent/)
  })
})
