import { describe, expect, it } from 'vitest'
import { useExamplesStore } from '../../src/renderer/src/stores/examples'
import { useProjectsStore } from '../../src/renderer/src/stores/projects'
import { appError, setup, tick } from './stores-fake'

const info = (dir: string, name: string, state: Record<string, unknown> = {}) => ({ dir, name, createdAt: 'c', updatedAt: 'u', settings: { inputSize: 28, resizeMode: 'squash' as const, background: '#ffffff', channels: 1 as const }, state })
const LIST = [
  { name: 'fashion-mnist', title: 'Fashion-MNIST CNN', description: 'Ten kinds of clothing.' },
  { name: 'cats-dogs-vgg16', title: 'Dogs vs cats, VGG16', description: 'Transfer learning.' },
]

describe('examples store', () => {
  it('lists the examples once', async () => {
    const fake = setup({ 'examples.list': () => LIST })
    const s = useExamplesStore()
    await s.load()
    await s.load()
    expect(s.list.map((e) => e.name)).toEqual(['fashion-mnist', 'cats-dogs-vgg16'])
    expect(fake.calls.map((c) => c.method)).toEqual(['examples.list'])
  })

  it('creates an example with a local source, shows progress, then opens it and refreshes the recent list', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const fake = setup({
      'examples.create': async ({ name }, opts) => {
        opts?.onProgress?.({ phase: 'download', done: 1_000_000, total: 30_000_000, rate: 2_000_000, etaSeconds: 14.5 })
        await gate
        return info(`/ws/${name}`, name, { example: { name: 'fashion-mnist' } })
      },
      'projects.open': ({ dir }) => info(dir, 'Fashion', { example: { name: 'fashion-mnist' } }),
      'projects.recent': () => [{ dir: '/ws/Fashion', name: 'Fashion', openedAt: 'now', available: true }],
    })
    const s = useExamplesStore()
    const done = s.create('fashion-mnist', '  Fashion ', ' /data/fashion ')
    await tick()
    expect(s.task.running).toBe(true)
    expect(s.creating).toBe('fashion-mnist')
    expect(s.task.progress).toMatchObject({ phase: 'download', done: 1_000_000, total: 30_000_000 })
    const call = fake.calls.find((c) => c.method === 'examples.create')!
    expect(call.args).toEqual({ name: 'Fashion', example: 'fashion-mnist', source: '/data/fashion' })
    expect(call.opts?.callId).toBe(s.task.callId)
    release()
    const p = await done
    expect(p?.dir).toBe('/ws/Fashion')
    const projects = useProjectsStore()
    expect(projects.current?.dir).toBe('/ws/Fashion')
    expect(projects.current?.state.example).toEqual({ name: 'fashion-mnist' })
    expect(projects.recent.map((r) => r.name)).toEqual(['Fashion'])
    expect(fake.calls.map((c) => c.method)).toEqual(['examples.create', 'projects.open', 'projects.recent'])
    expect(s.task.running).toBe(false)
    expect(s.creating).toBeNull()
  })

  it('sends no source when the field is empty (the official download)', async () => {
    const fake = setup({ 'examples.create': ({ name }) => info(`/ws/${name}`, name), 'projects.open': ({ dir }) => info(dir, 'F'), 'projects.recent': () => [] })
    await useExamplesStore().create('fashion-mnist', 'F', '   ')
    expect(fake.calls[0].args).toEqual({ name: 'F', example: 'fashion-mnist' })
  })

  it('shows a failure inline with its hint, keeps the card marked, and opens nothing', async () => {
    const fake = setup({ 'examples.create': () => { throw appError('NOT_FOUND', 'No Fashion-MNIST files in /nope.', 'Point to a folder holding the four .gz files, or leave the field empty to download.') } })
    const s = useExamplesStore()
    expect(await s.create('fashion-mnist', 'F', '/nope')).toBeUndefined()
    expect(s.task.error).toEqual({ message: 'No Fashion-MNIST files in /nope.', hint: 'Point to a folder holding the four .gz files, or leave the field empty to download.' })
    expect(s.creating).toBe('fashion-mnist')
    expect(useProjectsStore().current).toBeNull()
    expect(fake.calls.map((c) => c.method)).toEqual(['examples.create'])
    s.dismiss()
    expect(s.task.error).toBeNull()
    expect(s.creating).toBeNull()
  })

  it('reports a failure to open the new project where the create was started', async () => {
    setup({ 'examples.create': ({ name }) => info(`/ws/${name}`, name), 'projects.open': () => { throw appError('PROJECT_LOCKED', 'Another window has /ws/F open.', 'Close it there first.') } })
    const s = useExamplesStore()
    expect(await s.create('fashion-mnist', 'F')).toBeUndefined()
    expect(s.task.error).toEqual({ message: 'Another window has /ws/F open.', hint: 'Close it there first.' })
    expect(useProjectsStore().current).toBeNull()
  })

  it('cancels the running create by its callId', async () => {
    const fake = setup({
      'examples.create': (_a, opts) =>
        new Promise((_r, reject) => {
          const t = setInterval(() => {
            if (fake.cancelled.includes(opts!.callId!)) {
              clearInterval(t)
              reject(appError('CANCELLED', 'Cancelled.'))
            }
          }, 1)
        }),
    })
    const s = useExamplesStore()
    const p = s.create('fashion-mnist', 'F')
    await tick()
    const id = s.task.callId!
    await s.cancel()
    expect(await p).toBeUndefined()
    expect(fake.cancelled).toEqual([id])
    expect(s.task.error?.message).toBe('Cancelled.')
  })

  it('refuses a second create while one runs', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const fake = setup({ 'examples.create': async ({ name }) => (await gate, info(`/ws/${name}`, name)), 'projects.open': ({ dir }) => info(dir, 'A'), 'projects.recent': () => [] })
    const s = useExamplesStore()
    const first = s.create('fashion-mnist', 'A')
    await tick()
    expect(await s.create('cats-dogs-vgg16', 'B')).toBeUndefined()
    release()
    await first
    expect(fake.calls.filter((c) => c.method === 'examples.create').length).toBe(1)
  })
})
