import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  closeProject,
  createNamedProject,
  createProject,
  forgetProject,
  openProject,
  recentProjects,
  renameProject,
  saveProjectState,
  updateProject,
} from '../../src/main/services/projects'
import { writeFileAtomic } from '../../src/main/platform/fs-atomic'
import { Dispatcher } from '../../src/main/services/dispatch'
import { createHandlers } from '../../src/main/services/handlers'
import { isolatedHome, tempDir } from '../helpers/env'

let tmp: ReturnType<typeof tempDir>
let home: ReturnType<typeof isolatedHome>
beforeEach(() => {
  tmp = tempDir()
  home = isolatedHome()
})
afterEach(() => {
  tmp.cleanup()
  home.cleanup()
})

describe('projects service', () => {
  it('creates a project folder with a versioned project.json and runs/', async () => {
    const p = await createProject(join(tmp.dir, 'Cats'))
    const file = JSON.parse(readFileSync(join(tmp.dir, 'Cats', 'project.json'), 'utf8'))
    expect(file).toMatchObject({ schemaVersion: 1, name: 'Cats', settings: { inputSize: 224, resizeMode: 'squash' } })
    expect(existsSync(join(tmp.dir, 'Cats', 'runs'))).toBe(true)
    expect(p.dir).toBe(join(tmp.dir, 'Cats'))
    expect((await recentProjects()).map((r) => r.dir)).toEqual([p.dir])
  })

  it('refuses to create inside a folder holding other files, and over an existing project', async () => {
    mkdirSync(join(tmp.dir, 'busy'))
    writeFileSync(join(tmp.dir, 'busy', 'thesis.docx'), 'x')
    await expect(createProject(join(tmp.dir, 'busy'))).rejects.toMatchObject({ code: 'PROJECT_EXISTS', message: expect.stringContaining('is not empty') })
    expect(readFileSync(join(tmp.dir, 'busy', 'thesis.docx'), 'utf8')).toBe('x')
    await createProject(join(tmp.dir, 'p'))
    await expect(createProject(join(tmp.dir, 'p'))).rejects.toMatchObject({ code: 'PROJECT_EXISTS' })
  })

  it('refuses a path-traversal project name and writes nothing outside the parent', async () => {
    const parent = join(tmp.dir, 'workspace')
    mkdirSync(parent)
    await expect(createNamedProject(parent, '../escape')).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    await expect(createNamedProject(parent, '..')).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(existsSync(join(tmp.dir, 'escape'))).toBe(false)
    const ok = await createNamedProject(parent, 'Good one')
    expect(ok.dir).toBe(join(parent, 'Good one'))
  })

  it('opens a damaged project.json with an error naming the file and the problem, and leaves it untouched', async () => {
    const p = await createProject(join(tmp.dir, 'd'))
    await closeProject(p.dir)
    const file = join(p.dir, 'project.json')
    writeFileSync(file, '{"schemaVersion": 1, "name": ')
    const before = statSync(file).mtimeMs
    await expect(openProject(p.dir)).rejects.toMatchObject({ code: 'PROJECT_DAMAGED', message: expect.stringContaining(`${file} is damaged: it is not valid JSON`) })
    writeFileSync(file, JSON.stringify({ schemaVersion: 1, name: 'x', createdAt: 'a', updatedAt: 'b', settings: { inputSize: 'big', resizeMode: 'squash', background: '#ffffff', channels: 3 } }))
    await expect(openProject(p.dir)).rejects.toThrow(/settings\.inputSize/)
    expect(readFileSync(file, 'utf8')).toContain('"big"')
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(before)
  })

  it('refuses a second opener while the lock holder lives, and recovers a stale lock', async () => {
    const p = await createProject(join(tmp.dir, 'l'))
    // Our own process holds it: opening again from here is fine (same instance).
    await expect(openProject(p.dir)).resolves.toBeTruthy()
    // A live foreign process holds it.
    const sleeper = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' })
    expect(sleeper.status).toBe(0)
    writeFileSync(join(p.dir, '.lock'), JSON.stringify({ pid: process.ppid, host: hostname(), since: '2026-01-01T00:00:00Z' }))
    await expect(openProject(p.dir)).rejects.toMatchObject({ code: 'PROJECT_LOCKED', message: expect.stringContaining('open elsewhere') })
    // A dead process held it (a crash): the lock is stale and is taken over.
    writeFileSync(join(p.dir, '.lock'), JSON.stringify({ pid: Number(sleeper.stdout.trim()), host: hostname(), since: '2026-01-01T00:00:00Z' }))
    await expect(openProject(p.dir)).resolves.toMatchObject({ dir: p.dir })
    expect(JSON.parse(readFileSync(join(p.dir, '.lock'), 'utf8')).pid).toBe(process.pid)
    await closeProject(p.dir)
    expect(existsSync(join(p.dir, '.lock'))).toBe(false)
  })

  it('renames, autosaves state and forgets from recent without deleting files', async () => {
    const p = await createProject(join(tmp.dir, 'r'))
    await renameProject(p.dir, 'Renamed')
    await saveProjectState(p.dir, 'ui', { view: 'train' })
    const file = JSON.parse(readFileSync(join(p.dir, 'project.json'), 'utf8'))
    expect(file.name).toBe('Renamed')
    expect(file.state.ui).toEqual({ view: 'train' })
    expect((await recentProjects())[0].name).toBe('Renamed')
    expect(await forgetProject(p.dir)).toEqual([])
    expect(existsSync(join(p.dir, 'project.json'))).toBe(true)
  })

  it('serialises concurrent updates so none is lost', async () => {
    const p = await createProject(join(tmp.dir, 'c'))
    await Promise.all(Array.from({ length: 20 }, (_, i) => updateProject(p.dir, (f) => void (f.state[`k${i}`] = i))))
    const file = JSON.parse(readFileSync(join(p.dir, 'project.json'), 'utf8'))
    expect(Object.keys(file.state)).toHaveLength(20)
  })

  it('writes atomically: no temp files left, the old content stays if the write fails', async () => {
    const target = join(tmp.dir, 'a.json')
    await writeFileAtomic(target, 'one')
    await writeFileAtomic(target, 'two')
    expect(readFileSync(target, 'utf8')).toBe('two')
    mkdirSync(join(tmp.dir, 'dir-target'))
    await expect(writeFileAtomic(join(tmp.dir, 'dir-target'), 'x')).rejects.toThrow()
    const { readdirSync } = await import('node:fs')
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('marks recent projects whose folder vanished as unavailable', async () => {
    const p = await createProject(join(tmp.dir, 'gone'))
    const { rmSync } = await import('node:fs')
    rmSync(p.dir, { recursive: true })
    expect(await recentProjects()).toMatchObject([{ dir: p.dir, available: false }])
  })
})

describe('dispatcher', () => {
  const ctx = { signal: new AbortController().signal, onProgress: () => {}, emit: () => {} }

  it('refuses calls on projects not opened in this session', async () => {
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    const other = await createProject(join(tmp.dir, 'other'))
    await expect(d.call('projects', 'rename', { dir: other.dir, name: 'x' }, ctx)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await d.call('projects', 'open', { dir: other.dir }, ctx)
    await expect(d.call('projects', 'rename', { dir: other.dir, name: 'x' }, ctx)).resolves.toMatchObject({ name: 'x' })
  })

  it('creates named projects in the workspace folder only', async () => {
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: join(tmp.dir, 'ws') }))
    const p = (await d.call('projects', 'create', { name: 'Flowers' }, ctx)) as { dir: string }
    expect(p.dir).toBe(join(tmp.dir, 'ws', 'Flowers'))
    await expect(d.call('projects', 'create', { name: '../../etc' }, ctx)).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })
})
