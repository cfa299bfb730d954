/**
 * A project's identity is its real path: two spellings of one project (a symlink and the real
 * path) opened in the same studio share one lock, one update queue, one import queue and one
 * entry in the recent list. Through the real Dispatcher and the real handlers.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Dispatcher } from '../../src/main/services/dispatch'
import { createHandlers } from '../../src/main/services/handlers'
import { createProject, openProject, recentProjects } from '../../src/main/services/projects'
import { projectKey, projectPath } from '../../src/main/services/projects/identity'
import { isolatedHome, tempDir } from '../helpers/env'

let tmp: ReturnType<typeof tempDir>
let home: ReturnType<typeof isolatedHome>
let real: string
let link: string
beforeEach(async () => {
  tmp = tempDir('cs-identity-')
  home = isolatedHome()
  const p = await createProject(join(tmp.dir, 'Real project'))
  real = p.dir
  link = join(tmp.dir, 'via-link')
  symlinkSync(real, link, 'dir')
})
afterEach(() => {
  tmp.cleanup()
  home.cleanup()
})

const ctx = { signal: new AbortController().signal, onProgress: () => {}, emit: () => {} }

/** `n` distinct small PNGs per class under `<dir>/<class>/`, made with sharp (no binary fixtures). */
async function makeImages(dir: string, tag: number, n: number): Promise<void> {
  for (const [c, cls] of ['cat', 'dog'].entries()) {
    mkdirSync(join(dir, cls), { recursive: true })
    for (let i = 0; i < n; i++) {
      const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: tag * 50 + c, g: i, b: 200 - i } } })
        .png()
        .toBuffer()
      writeFileSync(join(dir, cls, `${tag}-${i}.png`), png)
    }
  }
}

describe('project identity', () => {
  it('gives a symlink and the real path one key and one usable path', () => {
    expect(projectKey(link)).toBe(projectKey(real))
    expect(projectPath(link)).toBe(realpathSync.native(real))
    expect(projectKey(join(link, '..', 'via-link', '.'))).toBe(projectKey(real))
    // A folder that does not exist yet keeps its name under its real parent.
    expect(projectPath(join(link, 'not-yet'))).toBe(join(realpathSync.native(real), 'not-yet'))
    // Case: on this file system, two folders differing in case are distinct projects or one.
    mkdirSync(join(tmp.dir, 'CaseProbe'))
    const insensitive = existsSync(join(tmp.dir, 'caseprobe'))
    expect(projectKey(join(tmp.dir, 'caseprobe')) === projectKey(join(tmp.dir, 'CaseProbe'))).toBe(insensitive)
  })

  it('gives two letter cases of one project one key in a case-insensitive folder (simulated with bind mounts)', async (t) => {
    // Linux has no case-insensitive folder to hand; bind mounts of one folder under its other
    // spellings look exactly like one to the app (same dev + inode, realpath keeps the spelling).
    const ws = join(tmp.dir, 'ws')
    const photos = join(ws, 'Photos')
    mkdirSync(photos, { recursive: true })
    writeFileSync(join(photos, 'project.json'), readFileSync(join(real, 'project.json')))
    const spellings = ['PHOTOS', 'pHOTOS', 'photos'].map((n) => join(ws, n))
    const mounted: string[] = []
    try {
      for (const s of spellings) {
        mkdirSync(s)
        const r = spawnSync('mount', ['--bind', photos, s], { encoding: 'utf8' })
        if (r.status !== 0) {
          console.log(`skipped: bind mounts are not allowed here (${(r.stderr || r.error?.message || '').trim()}); the case-insensitive key is not exercised`)
          t.skip()
          return
        }
        mounted.push(s)
      }
      expect(projectKey(spellings[0])).toBe(projectKey(photos))
      expect(projectKey(join(spellings[1], '.'))).toBe(projectKey(photos))
      expect(projectKey(join(ws, 'Other'))).not.toBe(projectKey(photos))
      const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
      const opened = (await d.call('projects', 'open', { dir: spellings[0] }, ctx)) as { dir: string }
      await Promise.all(Array.from({ length: 10 }, (_, i) => d.call('projects', 'saveState', { dir: i % 2 ? photos : spellings[2], key: `c${i}`, value: i }, ctx)))
      expect(Object.keys(JSON.parse(readFileSync(join(photos, 'project.json'), 'utf8')).state)).toHaveLength(10)
      expect(d.openedProjects()).toEqual([opened.dir])
      await openProject(photos)
      expect((await recentProjects()).map((r) => projectKey(r.dir))).toEqual([projectKey(photos), projectKey(real)])
    } finally {
      for (const s of mounted.reverse()) spawnSync('umount', [s])
    }
  })

  it('keeps all 20 concurrent saveState calls split across the symlink and the real path', async () => {
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    await d.call('projects', 'open', { dir: link }, ctx)
    await d.call('projects', 'open', { dir: real }, ctx)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => d.call('projects', 'saveState', { dir: i % 2 ? link : real, key: `k${i}`, value: i }, ctx)),
    )
    expect(results).toHaveLength(20)
    const state = JSON.parse(readFileSync(join(real, 'project.json'), 'utf8')).state as Record<string, number>
    expect(Object.keys(state).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort())
    expect(Object.values(state).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('keeps both of two concurrent imports of 40 new images, one through each path', async () => {
    const a = join(tmp.dir, 'src-a')
    const b = join(tmp.dir, 'src-b')
    await makeImages(a, 1, 20)
    await makeImages(b, 2, 20)
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    await d.call('projects', 'open', { dir: real }, ctx)
    await d.call('projects', 'open', { dir: link }, ctx)
    const [ra, rb] = (await Promise.all([
      d.call('datasets', 'import', { dir: real, source: a, options: { size: 16 } }, ctx),
      d.call('datasets', 'import', { dir: link, source: b, options: { size: 16 } }, ctx),
    ])) as { added: number }[]
    expect(ra.added).toBe(40)
    expect(rb.added).toBe(40)
    const idx = JSON.parse(readFileSync(join(real, 'dataset', 'index.json'), 'utf8')) as { items: unknown[]; imports: { source: string; added: number }[] }
    expect(idx.items).toHaveLength(80)
    expect(idx.imports.map((i) => [i.source, i.added]).sort()).toEqual([
      [a, 40],
      [b, 40],
    ])
    const overview = (await d.call('datasets', 'overview', { dir: link }, ctx)) as { total: number; imports: { added: number }[]; classes: { name: string; count: number }[] }
    expect(overview.total).toBe(80)
    expect(overview.imports.map((i) => i.added)).toEqual([40, 40])
    expect(overview.classes).toEqual([
      { name: 'cat', count: 40 },
      { name: 'dog', count: 40 },
    ])
  })

  it('authorises the real path after opening via the symlink, and the symlink after the real path', async () => {
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    await expect(d.call('projects', 'rename', { dir: real, name: 'x' }, ctx)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const opened = (await d.call('projects', 'open', { dir: link }, ctx)) as { dir: string }
    expect(opened.dir).toBe(projectPath(real))
    await expect(d.call('projects', 'rename', { dir: real, name: 'Renamed' }, ctx)).resolves.toMatchObject({ name: 'Renamed', dir: projectPath(real) })
    expect(d.openedProjects()).toEqual([projectPath(real)])
    expect(d.openedPath(link)).toBe(projectPath(real))
    await d.call('projects', 'close', { dir: real }, ctx)
    await expect(d.call('projects', 'rename', { dir: link, name: 'y' }, ctx)).rejects.toMatchObject({ code: 'FORBIDDEN' })

    const d2 = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    d2.allow(real)
    await expect(d2.call('projects', 'saveState', { dir: link, key: 'ui', value: 1 }, ctx)).resolves.toMatchObject({ dir: projectPath(real) })
  })

  it('lists one recent entry for two spellings of one project, and forgets it by either', async () => {
    await openProject(link)
    await openProject(real)
    await openProject(join(tmp.dir, '.', 'via-link'))
    const recent = await recentProjects()
    expect(recent.map((r) => r.dir)).toEqual([projectPath(real)])
    // An entry written by an older version under the symlink spelling is merged too.
    const file = join(home.home, 'recent.json')
    const old = JSON.parse(readFileSync(file, 'utf8')) as { projects: { dir: string; name: string; openedAt: string }[] }
    old.projects.push({ ...old.projects[0], dir: link })
    writeFileSync(file, JSON.stringify(old))
    await openProject(real)
    expect((await recentProjects()).map((r) => r.dir)).toEqual([projectPath(real)])
    const d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: tmp.dir }))
    expect(await d.call('projects', 'forget', { dir: link }, ctx)).toEqual([])
  })
})
