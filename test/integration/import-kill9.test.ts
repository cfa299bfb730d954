/**
 * kill -9 during `classifier-studio import`, at seeded random moments, repeated: the project
 * must open afterwards (the dead process's lock is recovered), its index must be whole (all or
 * nothing of the killed import), a re-import must end with exactly the right images (none lost,
 * none twice), and no orphan chunk or temporary file may remain after it.
 * KILL9_SEED=<n> replays a sequence; the moments used are printed.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeProject, createProject, openProject } from '../../src/main/services/projects'
import { importDataset } from '../../src/main/services/datasets'
import { BIN, REPO, runCli } from '../helpers/cli'
import { checkDataset, listTree, seeded, writePngs } from '../helpers/dataset-check'

const SEED = Number(process.env.KILL9_SEED ?? 16_2026)
const BUDGET_MS = 50_000
const MAX_REPS = 12
const MIN_REPS = 4

const root = mkdtempSync(join(tmpdir(), 'cs-kill9-import-'))
const home = join(root, 'home')
const env = { CLASSIFIER_STUDIO_HOME: home }
const srcOld = join(root, 'old') // already in the project before the killed import (some repetitions)
const srcNew = join(root, 'new') // what the killed import brings
let nOld = 0
let nNew = 0

beforeAll(async () => {
  process.env.CLASSIFIER_STUDIO_HOME = home
  nOld = await writePngs(srcOld, ['cat', 'dog'], 20, 24, SEED + 1)
  nNew = await writePngs(srcNew, ['cat', 'dog', 'fox'], 45, 24, SEED + 2)
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

/**
 * Runs the import CLI and SIGKILLs it `afterMs` after its work began (its first progress line,
 * printed once the process is up), or after `afterMs` from the spawn when `fromSpawn`. Resolves
 * with whether the kill came before the end, and how long the work took when it did not.
 */
function importKilledAfter(project: string, source: string, size: number, afterMs: number, fromSpawn = false): Promise<{ killed: boolean; code: number | null; workMs: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'import', project, source, '--size', String(size)], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let killed = false
    let began = 0
    let timer: NodeJS.Timeout | null = null
    const arm = () => {
      timer = setTimeout(() => (killed = child.kill('SIGKILL')), afterMs)
    }
    if (fromSpawn) arm()
    child.stderr.on('data', (d: Buffer) => {
      if (began || !/scan \[/.test(String(d))) return
      began = Date.now()
      if (!fromSpawn) arm()
    })
    child.on('error', reject)
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer)
      resolve({ killed, code, workMs: began ? Date.now() - began : null })
    })
  })
}

/** Files an import may leave in a project: the project, its runs folder, the index and its chunks. */
function unexpectedFiles(project: string): string[] {
  return listTree(project).filter((p) => !['project.json', 'runs/', 'dataset/', 'dataset/index.json', 'dataset/chunks/'].includes(p) && !/^dataset\/chunks\/c\d{6}\.bin$/.test(p))
}

describe('kill -9 during import', () => {
  it('leaves a consistent project that opens, re-imports exactly, and keeps no leftovers', async () => {
    const rnd = seeded(SEED)
    // Calibrate: how long the work of a whole import takes here, per stored size (96 px: one
    // chunk file; 224 px: 150 KB per image, so the 135 images fill two chunk files of 16 MiB).
    const full: Record<number, number> = {}
    for (const size of [96, 224]) {
      const p = join(root, `calibrate-${size}`)
      await createProject(p)
      await closeProject(p)
      const r = await importKilledAfter(p, srcNew, size, 600_000)
      expect(r.code).toBe(0)
      full[size] = r.workMs!
      expect((await checkDataset(p)).active).toBe(nNew)
    }
    console.log(`import kill -9: seed ${SEED}; the work of a whole import takes ${full[96]} ms at 96 px, ${full[224]} ms at 224 px`)

    const t0 = Date.now()
    let reps = 0
    let withLeftovers = 0
    while (reps < MAX_REPS && (reps < MIN_REPS || Date.now() - t0 < BUDGET_MS)) {
      const size = reps % 2 === 0 ? 224 : 96
      const project = join(root, `rep${reps}`)
      await createProject(project)
      await closeProject(project)
      const before = reps % 3 === 1 ? 0 : nOld
      if (before) await importDataset(project, srcOld, { size })
      // One or two killed imports in a row, each at a random moment of its work (a few while
      // the process starts, before it touched anything).
      const kills = rnd() < 0.3 ? 2 : 1
      const moments: string[] = []
      for (let k = 0; k < kills; k++) {
        const early = rnd() < 0.15
        const at = Math.round(rnd() * (early ? 1500 : full[size] * 1.1))
        const r = await importKilledAfter(project, srcNew, size, at, early)
        // Ended before the kill: the machine is faster (or less busy) than at calibration.
        if (!r.killed && r.workMs && !early) full[size] = Math.round((full[size] + r.workMs) / 2)
        moments.push(`${early ? 'start + ' : ''}${at} ms${r.killed ? '' : ` (ended first, code ${r.code})`}`)
        // Right after the kill: the index is whole, with all or nothing of the killed import.
        const after = await checkDataset(project, { leftoversAllowed: true })
        expect([before, before + nNew], `images after a kill at ${at} ms`).toContain(after.active)
        if (after.leftovers.length) withLeftovers++
      }
      console.log(`  rep ${reps}: ${size} px, ${before} images before, killed at ${moments.join(', ')}`)

      // The project opens (the killed process's lock is recovered).
      await openProject(project)
      await closeProject(project)

      // A re-import completes with exactly the right images, and nothing else stays.
      const again = await runCli(['import', project, srcNew, '--json'], env)
      expect(again.code, again.stderr).toBe(0)
      const s = again.json()
      expect(s.added + s.unchanged).toBe(nNew)
      const final = await checkDataset(project)
      expect(final.active).toBe(before + nNew)
      expect(final.idx!.items.length, 'no image stored twice').toBe(before + nNew)
      expect(unexpectedFiles(project), 'leftovers in the project').toEqual([])
      reps++
    }
    console.log(`import kill -9: ${reps} repetitions in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${withLeftovers} kill(s) left files that the next import removed`)
  }, 240_000)

  it('the next import removes only what an import makes (c000123.bin, .index.json.<hex>.tmp), never other files', async () => {
    const project = join(root, 'planted')
    await createProject(project)
    await closeProject(project)
    await importDataset(project, srcOld, { size: 96 })
    const chunks = join(project, 'dataset', 'chunks')
    // What a killed import leaves: a chunk no index names, the index's temporary file.
    const appMade = [join(chunks, 'c000042.bin'), join(project, 'dataset', '.index.json.0123456789ab.tmp')]
    for (const f of appMade) writeFileSync(f, Buffer.alloc(4096, 7))
    // What a person may have put there: kept.
    const theirs = ['dataset/chunks/c42.bin', 'dataset/chunks/notes.txt', 'dataset/index.json.bak']
    for (const f of theirs) writeFileSync(join(project, f), 'mine')
    const r = await importDataset(project, srcNew)
    expect(r.added).toBe(nNew)
    for (const f of appMade) expect(existsSync(f), f).toBe(false)
    for (const f of theirs) expect(existsSync(join(project, f)), f).toBe(true)
    const check = await checkDataset(project, { leftoversAllowed: true })
    expect(check.active).toBe(nOld + nNew)
    expect(check.leftovers.sort()).toEqual(theirs.sort())
  })
})
