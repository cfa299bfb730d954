/**
 * The app deletes or replaces only what it made: `export --overwrite` (CLI) and `export.run` with
 * `overwrite: true` (the bridge's dispatcher) replace an empty folder or an earlier export of the app,
 * and refuse the project itself, another project, a symlink to a project, a folder of the user's images,
 * a folder with extra files, and new folders inside a project other than <project>/exports/<name>.
 * Each refusal leaves everything exactly as it was.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { cp, mkdir, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli'
import { isolatedHome, tempDir } from '../helpers/env'
import { makeTrainedProject, writeColourImages } from './export-project'
import { Dispatcher } from '../../src/main/services/dispatch'
import { createHandlers } from '../../src/main/services/handlers'
import { exportModel } from '../../src/main/services/export'
import { EXPORT_MANIFEST } from '../../src/main/services/ownership'
import { closeProject } from '../../src/main/services/projects'

const tmp = tempDir('cs-export-overwrite-')
const home = isolatedHome()
const env = { CLASSIFIER_STUDIO_HOME: home.home }
const root = tmp.dir
const P = join(root, 'P')
const Q = join(root, 'Q')
const images = join(root, 'images')
const photos = join(root, 'photos') // a folder of the user's images
const linkToQ = join(root, 'link-to-Q')
const linkToP = join(root, 'link-to-P')

/** Every path below `dir` with its size and mtime: equal snapshots = nothing touched. */
function snapshot(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n)
      const st = lstatSync(p)
      out.push(`${p.slice(dir.length)} ${st.isDirectory() ? 'dir' : `${st.size} ${st.mtimeMs}`}`)
      if (st.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out
}

/** Leftovers of exports next to `dir`: hidden .partial / .old folders. */
function leftovers(parent: string): string[] {
  return readdirSync(parent).filter((n) => /\.(partial|old)-/.test(n))
}

function isCompleteExport(dir: string, format: string): boolean {
  const m = JSON.parse(readFileSync(join(dir, EXPORT_MANIFEST), 'utf8')) as { app: string; state: string; format: string; files: string[] }
  const names = readdirSync(dir).filter((n) => n !== EXPORT_MANIFEST).sort()
  return m.app === 'classifier-studio' && m.state === 'complete' && m.format === format && JSON.stringify(m.files) === JSON.stringify(names) && names.includes(`model.${format === 'tfjs' ? 'json' : format}`)
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const cliError = (stderr: string) => JSON.parse(stderr.trim().split('\n').pop()!).error as { code: string; message: string; hint?: string }

beforeAll(async () => {
  await writeColourImages(images)
  await makeTrainedProject(P, images)
  await makeTrainedProject(Q, images)
  await cp(join(images, 'red'), photos, { recursive: true })
  await symlink(Q, linkToQ)
  await symlink(P, linkToP)
}, 60_000)

afterAll(() => {
  tmp.cleanup()
  home.cleanup()
})

describe('export --overwrite through the CLI', () => {
  it('refuses the project itself, another project (also through a symlink) and a folder of photos; each stays as it was', async () => {
    const before = { P: snapshot(P), Q: snapshot(Q), photos: snapshot(photos) }
    const cases: [string, RegExp][] = [
      [P, /it is a Classifier Studio project; an export never replaces a project, even with overwrite/],
      [linkToQ, new RegExp(`it is a Classifier Studio project \\(${esc(linkToQ)} is ${esc(Q)}\\)`)],
      [photos, /it holds 6 item\(s\) Classifier Studio did not make \(0\.png, 1\.png, 2\.png, …\)\. Overwrite replaces only an empty folder or an earlier export of the app, never other files\./],
    ]
    for (const [out, message] of cases) {
      const r = await runCli(['export', P, '--format', 'onnx', '--out', out, '--overwrite', '--json'], env)
      expect(r.code, `${out}: ${r.stderr}`).toBe(1)
      const e = cliError(r.stderr)
      expect(e.code).toBe('FORBIDDEN')
      expect(e.message).toMatch(new RegExp(`^Cannot export to ${esc(out)}: `))
      expect(e.message).toMatch(message)
      expect(e.hint).toMatch(/Choose a new or empty folder, or an earlier export/)
    }
    expect({ P: snapshot(P), Q: snapshot(Q), photos: snapshot(photos) }).toEqual(before)
    expect(leftovers(root)).toEqual([])
    expect(existsSync(join(P, 'project.json')) && existsSync(join(Q, 'project.json'))).toBe(true)
  }, 120_000)

  it('replaces an earlier export of the app; a folder path through a file is a clear error', async () => {
    const out = join(root, 'cli-export')
    await exportModel(P, { format: 'onnx', out, parityImages: 2 })
    expect(isCompleteExport(out, 'onnx')).toBe(true)
    const again = await runCli(['export', P, '--format', 'tfjs', '--out', out, '--overwrite', '--json'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(isCompleteExport(out, 'tfjs')).toBe(true)
    expect(existsSync(join(out, 'model.onnx'))).toBe(false)
    expect(leftovers(root)).toEqual([])

    await writeFile(join(root, 'afile.txt'), 'a file')
    const bad = await runCli(['export', P, '--format', 'onnx', '--out', join(root, 'afile.txt', 'sub'), '--json'], env)
    expect(bad.code).toBe(1)
    const e = cliError(bad.stderr)
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toBe(`Cannot export to ${join(root, 'afile.txt', 'sub')}: ${join(root, 'afile.txt')} is a file, not a folder (ENOTDIR).`)
    expect(e.hint).toMatch(/Choose a folder path/)
  }, 120_000)
})

describe('export.run with overwrite through the dispatcher (the web bridge and the app)', () => {
  const ctx = { signal: new AbortController().signal, onProgress: () => {}, emit: () => {} }
  let d: Dispatcher
  const run = (out: string, overwrite = true, format = 'onnx') => d.call('export', 'run', { dir: P, options: { format, out, overwrite, parityImages: 3 } }, ctx)

  beforeAll(async () => {
    d = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: join(root, 'workspace') }))
    await d.call('projects', 'open', { dir: P }, ctx)
  })
  afterAll(async () => {
    await closeProject(P).catch(() => undefined)
  })

  it('refuses the project, another project, symlinks to them, photos, and an earlier export with extra files', async () => {
    const extra = join(root, 'export-plus-notes')
    await exportModel(P, { format: 'onnx', out: extra, parityImages: 2 })
    await writeFile(join(extra, 'notes.txt'), 'my notes')
    const before = { P: snapshot(P), Q: snapshot(Q), photos: snapshot(photos), extra: snapshot(extra) }
    for (const out of [P, Q, linkToQ, linkToP, photos, extra, join(linkToQ, '.')]) {
      const err = await run(out).catch((e) => e)
      expect(err, out).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^Cannot export to /), hint: expect.stringMatching(/earlier export/) })
    }
    expect(await run(extra).catch((e) => e.message)).toMatch(/holds 1 item\(s\) Classifier Studio did not make \(notes\.txt\)/)
    // A folder holding a project below it.
    const parentOfQ = root
    expect(await run(parentOfQ).catch((e) => e.message)).toMatch(/it holds the project /)
    expect({ P: snapshot(P), Q: snapshot(Q), photos: snapshot(photos), extra: snapshot(extra) }).toEqual(before)
    expect(leftovers(root)).toEqual([])
  }, 60_000)

  it('a new folder inside a project is refused, except <project>/exports/<name> (the Export view default)', async () => {
    for (const out of [join(P, 'runs', 'x'), join(P, 'dataset-export'), join(Q, 'exports'), join(Q, 'exports', 'a', 'b'), join(linkToP, 'models', 'onnx')]) {
      const err = await run(out, false).catch((e) => e)
      expect(err, out).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/is inside the project .* exports never write into a project's own folders/), hint: expect.stringMatching(/exports\/<name>/) })
      expect(existsSync(out), out).toBe(false)
    }
    const r = (await run(join(P, 'exports', 'onnx'), false)) as { out: string; files: string[] }
    expect(isCompleteExport(join(P, 'exports', 'onnx'), 'onnx')).toBe(true)
    expect(r.files).toContain('model.onnx')
    // ...and replaced there with overwrite, also through a symlinked path to the project.
    await run(join(linkToP, 'exports', 'onnx'), true, 'h5')
    expect(isCompleteExport(join(P, 'exports', 'onnx'), 'h5')).toBe(true)
    expect(leftovers(join(P, 'exports'))).toEqual([])
  }, 60_000)

  it('an empty folder and an earlier export are replaced; without overwrite an earlier export is refused', async () => {
    const empty = join(root, 'empty')
    await mkdir(empty)
    await run(empty, false)
    expect(isCompleteExport(empty, 'onnx')).toBe(true)
    await expect(run(empty, false, 'tfjs')).rejects.toMatchObject({ code: 'INVALID_INPUT', hint: expect.stringMatching(/tick “Replace an earlier export” \(CLI: --overwrite\)/) })
    await run(empty, true, 'tfjs')
    expect(isCompleteExport(empty, 'tfjs')).toBe(true)
    expect(leftovers(root)).toEqual([])
  }, 60_000)

  it('an export from a version before the manifest is recognised and replaced; its old leftovers are cleaned', async () => {
    const legacy = join(root, 'legacy')
    await exportModel(P, { format: 'onnx', out: legacy, parityImages: 2 })
    const { rm, rename } = await import('node:fs/promises')
    await rm(join(legacy, EXPORT_MANIFEST))
    // A leftover of that version: .<name>.partial-<hex> with export files, untouched for two hours.
    const stale = join(root, '.legacy.partial-0123abcd')
    await cp(legacy, stale, { recursive: true })
    const old = new Date(Date.now() - 2 * 3600_000)
    await utimes(stale, old, old)
    // And one that is not the app's (a user's file in it): never touched.
    const foreign = join(root, '.legacy.old-89abcdef')
    await mkdir(foreign)
    await writeFile(join(foreign, 'diary.txt'), 'mine')
    await utimes(foreign, old, old)
    await run(legacy, true, 'tfjs')
    expect(isCompleteExport(legacy, 'tfjs')).toBe(true)
    expect(existsSync(stale)).toBe(false)
    expect(readFileSync(join(foreign, 'diary.txt'), 'utf8')).toBe('mine')
    await rename(foreign, join(root, 'kept-by-test'))
    expect(leftovers(root)).toEqual([])
  }, 60_000)

  it('concurrent exports to one folder run one after the other: without overwrite the later one is refused clearly', async () => {
    const out = join(root, 'concurrent')
    const first = await Promise.allSettled([run(out, false, 'onnx'), run(join(root, '.', 'concurrent'), false, 'tfjs')])
    expect(first.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const refused = first.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/the folder exists and is not empty \(an earlier (onnx|tfjs) export/), hint: expect.stringMatching(/tick “Replace an earlier export” \(CLI: --overwrite\)/) })
    const both = await Promise.allSettled([run(out, true, 'h5'), run(out, true, 'onnx')])
    expect(both.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled'])
    const m = JSON.parse(readFileSync(join(out, EXPORT_MANIFEST), 'utf8')) as { format: string }
    expect(isCompleteExport(out, m.format)).toBe(true)
    expect(leftovers(root)).toEqual([])
    expect(statSync(out).isDirectory()).toBe(true)
  }, 60_000)

  it('a second process exporting into the same folder at the same time: no raw errno, a complete export, no leftovers', async () => {
    const out = join(root, 'two-processes')
    const cli = runCli(['export', Q, '--format', 'onnx', '--out', out, '--overwrite', '--json'], env)
    const here = await Promise.allSettled([run(out, true, 'tfjs'), run(out, true, 'tfjs')])
    const r = await cli
    for (const h of here) if (h.status === 'rejected') expect(h.reason.code, String(h.reason.message)).toMatch(/INVALID_INPUT/)
    if (r.code !== 0) expect(cliError(r.stderr).message).toMatch(/^Cannot export to /)
    expect(r.stderr).not.toMatch(/ENOTEMPTY: directory not empty|EEXIST: file already exists/)
    expect(r.code === 0 || here.some((h) => h.status === 'fulfilled')).toBe(true)
    const m = JSON.parse(readFileSync(join(out, EXPORT_MANIFEST), 'utf8')) as { format: string }
    expect(isCompleteExport(out, m.format)).toBe(true)
    expect(leftovers(root)).toEqual([])
  }, 60_000)
})
