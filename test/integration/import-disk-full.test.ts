/**
 * A full disk during import: on a small tmpfs (mounted here; needs root and Linux, else skipped
 * with the reason printed), an import bigger than the free space fails with a message that names
 * the file and says nothing was added, and leaves the index, project.json and the disk exactly as
 * they were (the partial and complete chunk files it wrote are removed); a later import that fits
 * works.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeProject, createProject } from '../../src/main/services/projects'
import { importDataset } from '../../src/main/services/datasets'
import { runCli } from '../helpers/cli'
import { bytesUnder, checkDataset, listTree, writePngs } from '../helpers/dataset-check'

const root = mkdtempSync(join(tmpdir(), 'cs-diskfull-'))
const mnt = join(root, 'small-disk')
const home = join(root, 'home')
const TMPFS_MB = 40
let mounted = false
let why = ''

function tryMount(): void {
  if (process.platform !== 'linux') {
    why = `tmpfs needs Linux (this is ${process.platform})`
    return
  }
  try {
    execFileSync('mkdir', ['-p', mnt])
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', mnt], { stdio: 'pipe' })
    mounted = true
  } catch (err) {
    why = `cannot mount a ${TMPFS_MB} MiB tmpfs (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim() || 'mount failed'}); run as root on Linux to test a full disk`
  }
}

const freeBytes = () => {
  const s = statfsSync(mnt)
  return s.bavail * s.bsize
}

/** What a failed import must leave exactly as it was. */
function snapshot(project: string) {
  return {
    tree: listTree(project),
    bytes: bytesUnder(project),
    free: freeBytes(),
    index: readFileSync(join(project, 'dataset', 'index.json'), 'utf8'),
    projectJson: readFileSync(join(project, 'project.json'), 'utf8'),
  }
}

const src = { first: join(root, 'first'), big: join(root, 'big'), later: join(root, 'later'), fits: join(root, 'fits') }

beforeAll(async () => {
  process.env.CLASSIFIER_STUDIO_HOME = home
  tryMount()
  if (!mounted) return
  // 32-px PNGs stored at 224 px: 150,528 bytes each, 111 per 16 MiB chunk file.
  await writePngs(src.first, ['a', 'b'], 10, 32, 1)
  await writePngs(src.big, ['a', 'b'], 200, 32, 2) // 400 images = 60 MB: more than the disk
  await writePngs(src.later, ['a', 'b'], 10, 32, 3)
  await writePngs(src.fits, ['a', 'b'], 10, 32, 4)
})

afterAll(() => {
  if (mounted) {
    try {
      execFileSync('umount', [mnt], { stdio: 'pipe' })
    } catch {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
    }
  }
  rmSync(root, { recursive: true, force: true })
})

describe('import on a full disk', () => {
  it('fails with a clear message while writing chunks, and leaves the index and the disk as they were', async (ctx) => {
    if (!mounted) {
      console.warn(`skipped: ${why}`)
      ctx.skip(why)
    }
    const project = join(mnt, 'p')
    await createProject(project)
    await closeProject(project) // the CLI below opens it
    const first = await importDataset(project, src.first, { size: 224 })
    expect(first.added).toBe(20)
    const before = snapshot(project)
    expect(before.free).toBeLessThan(400 * 150_528) // the big import cannot fit

    // Through the CLI, as a person would run it: two full chunk files fit, the third does not.
    const r = await runCli(['import', project, src.big], { CLASSIFIER_STUDIO_HOME: home })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/The disk is full while writing \S+\/dataset\/chunks\/c\d{6}\.bin: nothing was added/)
    expect(r.stderr).toContain('Free some space')
    expect(r.stderr).not.toMatch(/^\s+at /m) // no stack trace

    const after = snapshot(project)
    expect(after.index).toBe(before.index)
    expect(after.projectJson).toBe(before.projectJson)
    expect(after.tree).toEqual(before.tree)
    expect(after.bytes).toBe(before.bytes)
    expect(after.free).toBe(before.free)
    const check = await checkDataset(project)
    expect(check.active).toBe(20)

    // A later import that fits works.
    const later = await importDataset(project, src.later)
    expect(later.added).toBe(20)
    expect((await checkDataset(project)).active).toBe(40)
  })

  it('fails cleanly when the chunk fits but the index does not, also on the first import', async (ctx) => {
    if (!mounted) {
      console.warn(`skipped: ${why}`)
      ctx.skip(why)
    }
    const project = join(mnt, 'q')
    await createProject(project)
    const before = { tree: listTree(project), bytes: bytesUnder(project), projectJson: readFileSync(join(project, 'project.json'), 'utf8') }
    // Fill the disk so that the 20-image chunk file (3,010,560 bytes) fits and nothing more.
    const chunkPages = Math.ceil((20 * 150_528) / 4096) * 4096
    const filler = join(mnt, 'filler')
    writeFileSync(filler, Buffer.alloc(Math.max(0, freeBytes() - chunkPages)))
    expect(freeBytes()).toBe(chunkPages)
    const freeBefore = freeBytes()

    await expect(importDataset(project, src.fits, { size: 224 })).rejects.toMatchObject({
      name: 'AppError',
      code: 'DISK_FULL',
      message: expect.stringMatching(/^The disk is full while writing \S+(index\.json|project\.json): nothing was added/),
      hint: expect.stringContaining('Free some space'),
    })
    expect(listTree(project)).toEqual(before.tree)
    expect(bytesUnder(project)).toBe(before.bytes)
    expect(readFileSync(join(project, 'project.json'), 'utf8')).toBe(before.projectJson)
    expect(freeBytes()).toBe(freeBefore)
    expect(await checkDataset(project)).toEqual({ idx: null, active: 0, leftovers: [] })

    rmSync(filler)
    const ok = await importDataset(project, src.fits, { size: 224 })
    expect(ok.added).toBe(20)
    expect((await checkDataset(project)).active).toBe(20)
  })
})
