/**
 * kill -9 during an export: a CLI export (with --overwrite onto an earlier export) is killed at seeded
 * random moments, from start-up to the move into place. After each kill the destination is an intact
 * export (never half-written, never gone), the only leftovers are the app's own marked temporary
 * folders, and the next export removes every leftover. The swap window (earlier export moved aside, the
 * new one not yet in place) is too short to hit by chance, so it is built by hand and cleaned the same way.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cp, mkdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, REPO } from '../helpers/cli'
import { isolatedHome, tempDir } from '../helpers/env'
import { makeTrainedProject, writeColourImages } from './export-project'
import { mulberry32 } from '../../src/main/ml/training/rng'
import { exportModel } from '../../src/main/services/export'
import { EXPORT_MANIFEST, cleanExportLeftovers } from '../../src/main/services/ownership'

const tmp = tempDir('cs-export-kill9-')
const home = isolatedHome()
const root = tmp.dir
const P = join(root, 'P')
const dest = join(root, 'dest')
const out = join(dest, 'model')

const leftovers = () => readdirSync(dest).filter((n) => n !== 'model')

function exportState(dir: string): { format: string; files: string[] } | null {
  if (!existsSync(dir)) return null
  const m = JSON.parse(readFileSync(join(dir, EXPORT_MANIFEST), 'utf8')) as { app: string; state: string; format: string; files: string[] }
  const names = readdirSync(dir).filter((n) => n !== EXPORT_MANIFEST).sort()
  expect(m).toMatchObject({ app: 'classifier-studio', state: 'complete' })
  expect(m.files).toEqual(names)
  expect(names).toEqual(expect.arrayContaining(['README.md', 'labels.json', 'parity.json', 'preprocessing.json', m.format === 'tfjs' ? 'model.json' : `model.${m.format}`]))
  return { format: m.format, files: names }
}

interface Spawned {
  pid: number
  exited: Promise<number | null>
}

function startExport(format: string): Spawned {
  const child = spawn(process.execPath, [BIN, 'export', P, '--format', format, '--out', out, '--overwrite', '--json'], { cwd: REPO, env: { ...process.env, CLASSIFIER_STUDIO_HOME: home.home, NO_COLOR: '1' }, stdio: 'ignore' })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { pid: child.pid!, exited }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Resolves with the time (ms since `t0`) the temporary folder of process `pid` appeared, or null when the process ended first. */
async function partialAppears(pid: number, t0: number, done: { v: boolean }): Promise<number | null> {
  while (!done.v) {
    if (leftovers().some((n) => n.startsWith(`.model.partial-${pid}-`))) return Date.now() - t0
    await sleep(3)
  }
  return null
}

beforeAll(async () => {
  const images = join(root, 'images')
  await writeColourImages(images)
  await makeTrainedProject(P, images)
  await mkdir(dest)
}, 60_000)

afterAll(() => {
  tmp.cleanup()
  home.cleanup()
})

describe('kill -9 during export', () => {
  it('at random moments: the destination stays a complete export, leftovers are the app\'s, the next export cleans them all', async () => {
    // One export to completion: the earlier export each killed one replaces, and its timing.
    const t0 = Date.now()
    const first = startExport('onnx')
    const firstDone = { v: false }
    const seen = partialAppears(first.pid, t0, firstDone)
    expect(await first.exited).toBe(0)
    firstDone.v = true
    const total = Date.now() - t0
    const tPartial = (await seen) ?? total / 2
    expect(exportState(out)?.format).toBe('onnx')

    const rnd = mulberry32(20240916)
    const reps = 4
    let prev = new Set<string>()
    const kills: string[] = []
    for (let i = 0; i < reps; i++) {
      const format = ['onnx', 'tfjs', 'h5'][i % 3]
      const before = exportState(out)
      const start = Date.now()
      const child = startExport(format)
      const done = { v: false }
      void child.exited.then(() => (done.v = true))
      // Either during start-up (cleaning, loading the model) or while writing/checking/moving the export.
      const early = rnd() < 0.3
      if (early) await sleep(rnd() * tPartial)
      else {
        await partialAppears(child.pid, start, done)
        await sleep(rnd() * Math.max(50, total - tPartial) * 1.1)
      }
      const stillRunning = !done.v
      try {
        process.kill(child.pid, 'SIGKILL')
      } catch {
        /* it had already exited */
      }
      const code = await child.exited
      kills.push(`${format} after ${Date.now() - start} ms (${early ? 'start-up' : 'writing'}; ${stillRunning ? 'killed' : `had exited ${code}`})`)

      // The destination: the earlier export or the new one, complete either way.
      const after = exportState(out)
      expect(after, kills.join('\n')).not.toBeNull()
      expect([before!.format, format]).toContain(after!.format)
      // Leftovers: only marked temporary folders, of this process or ones the next export would have removed.
      const now = leftovers()
      for (const n of now) {
        expect(n, kills.join('\n')).toMatch(/^\.model\.(partial|old)-\d+-[0-9a-f]{8}$/)
        const pid = Number(/-(\d+)-/.exec(n)![1])
        expect(pid === child.pid || prev.has(n), `${n} after ${kills.join('\n')}`).toBe(true)
        const m = existsSync(join(dest, n, EXPORT_MANIFEST)) ? JSON.parse(readFileSync(join(dest, n, EXPORT_MANIFEST), 'utf8') || '{}') : null
        // A partial folder's marker names its writer; an .old folder is the earlier export moved aside, complete, marked by whoever wrote it.
        if (m && Object.keys(m).length) expect(m).toMatchObject(n.includes('.old-') ? { app: 'classifier-studio', state: 'complete', host: hostname() } : { app: 'classifier-studio', pid, host: hostname() })
        else expect(readdirSync(join(dest, n)).filter((e) => e !== EXPORT_MANIFEST)).toEqual([])
      }
      prev = new Set(now)
    }
    // The next export, to completion, cleans everything the killed ones left.
    const last = startExport('onnx')
    expect(await last.exited).toBe(0)
    expect(leftovers(), kills.join('\n')).toEqual([])
    expect(exportState(out)?.format).toBe('onnx')
  }, 180_000)

  it('the swap window: the earlier export moved aside is moved back, the finished temporary folder removed; live, foreign or other-host folders stay', async () => {
    const w = join(root, 'window')
    await mkdir(w)
    const target = join(w, 'model')
    await exportModel(P, { format: 'onnx', out: join(w, 'src'), parityImages: 2 })
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    const live = process.ppid
    // Killed between "earlier export -> .old" and ".partial -> model": no model, both folders complete.
    const old = join(w, `.model.old-${dead}-0a0b0c0d`)
    const partial = join(w, `.model.partial-${dead}-1a1b1c1d`)
    await cp(join(w, 'src'), old, { recursive: true })
    await cp(join(w, 'src'), partial, { recursive: true })
    const m = JSON.parse(readFileSync(join(partial, EXPORT_MANIFEST), 'utf8'))
    await writeFile(join(partial, EXPORT_MANIFEST), JSON.stringify({ ...m, pid: dead, host: hostname() }))
    // Killed right after creating its folder (no marker yet): empty, removed.
    const bare = join(w, `.model.partial-${dead}-2a2b2c2d`)
    await mkdir(bare)
    // Not removed: a live process's folder, a folder without the marker holding a user's file, another host's.
    const livePartial = join(w, `.model.partial-${live}-3a3b3c3d`)
    await cp(partial, livePartial, { recursive: true })
    await writeFile(join(livePartial, EXPORT_MANIFEST), JSON.stringify({ ...m, pid: live, host: hostname() }))
    const foreign = join(w, `.model.partial-${dead}-4a4b4c4d`)
    await mkdir(foreign)
    await writeFile(join(foreign, 'thesis.docx'), 'mine')
    const otherHost = join(w, `.model.partial-${dead}-5a5b5c5d`)
    await cp(partial, otherHost, { recursive: true })
    await writeFile(join(otherHost, EXPORT_MANIFEST), JSON.stringify({ ...m, pid: dead, host: `not-${hostname()}` }))
    // Similar names that are not this destination's leftovers.
    const unrelated = [join(w, `.model2.partial-${dead}-6a6b6c6d`), join(w, `.model.partial-${dead}-7a7b7c7d.bak`), join(w, `model.partial-${dead}-8a8b8c8d`)]
    for (const u of unrelated) await cp(partial, u, { recursive: true })

    const report = await cleanExportLeftovers(target)
    expect(report.restored).toBe(old)
    expect(report.removed.sort()).toEqual([bare, partial].sort())
    expect(report.kept.sort()).toEqual([foreign, otherHost].sort())
    expect(exportState(target)?.format).toBe('onnx')
    expect(existsSync(livePartial) && existsSync(join(foreign, 'thesis.docx')) && existsSync(otherHost)).toBe(true)
    for (const u of unrelated) expect(existsSync(u)).toBe(true)
  }, 60_000)
})
