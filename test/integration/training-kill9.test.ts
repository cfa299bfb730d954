/**
 * kill -9 of `classifier-studio train` (a tiny CNN), at seeded random moments, repeated: the
 * training process must not outlive the killed command; the run list stays readable; the killed
 * run shows as interrupted (resumable when it finished an epoch), never as running or damaged;
 * every checkpoint on disk is whole; the next training cleans what the killed one left (temporary
 * files and folders, the dead process's locks); a resumed and a new training complete.
 * KILL9_SEED=<n> replays a sequence; the moments used are printed.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeProject, createProject } from '../../src/main/services/projects'
import { importDataset } from '../../src/main/services/datasets'
import { listRuns, removeRunLeftovers } from '../../src/main/ml/training/runs'
import { BIN, REPO } from '../helpers/cli'
import { listTree, seeded, writePngs } from '../helpers/dataset-check'

const SEED = Number(process.env.KILL9_SEED ?? 16_2026)
const BUDGET_MS = 40_000
const MAX_REPS = 6
const MIN_REPS = 3
const EPOCHS = 12

const root = mkdtempSync(join(tmpdir(), 'cs-kill9-train-'))
const home = join(root, 'home')
const project = join(root, 'p')
const groups = new Set<number>() // process groups started here, killed in afterAll if still there

beforeAll(async () => {
  process.env.CLASSIFIER_STUDIO_HOME = home
  await writePngs(join(root, 'images'), ['a', 'b'], 40, 8, SEED)
  await createProject(project)
  await importDataset(project, join(root, 'images'), { size: 8, val: 0.25 })
  await closeProject(project)
})
afterAll(() => {
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  rmSync(root, { recursive: true, force: true })
})

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

interface TrainRun {
  code: number | null
  killed: boolean
  runId: string | null
  output: string
  /** Whether the command's processes (the CLI and its training process) were all gone in time. */
  allGone: boolean
}

/**
 * When to kill: `ms` after the spawn (while the command starts), or during epoch `epoch + 1` of
 * the run, at `frac` x 1.2 of the previous epoch's duration after the line of epoch `epoch` (0:
 * the run's start line): late fractions land in the checkpoint writes that end an epoch.
 */
type KillAt = { afterSpawnMs: number } | { epoch: number; frac: number }

/**
 * Runs `classifier-studio train` in its own process group and, at `at`, SIGKILLs either the
 * command only (as the OOM killer or `kill -9 PID` would: its training process then stops on its
 * own) or the whole group at once (the command and its training process, as a power cut would).
 * Then waits, bounded, for the whole group to end.
 */
function train(args: string[], at: KillAt | null, whole = false): Promise<TrainRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', project, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', CLASSIFIER_STUDIO_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const pgid = child.pid!
    groups.add(pgid)
    let output = ''
    let runId: string | null = null
    let killed = false
    let timer: NodeJS.Timeout | null = null
    const kill = (ms: number) => {
      timer = setTimeout(() => {
        if (child.exitCode !== null || child.signalCode !== null) return
        if (whole) process.kill(-pgid, 'SIGKILL')
        else child.kill('SIGKILL')
        killed = true
      }, ms)
    }
    if (at && 'afterSpawnMs' in at) kill(at.afterSpawnMs)
    let lastLine = 0
    let epochsSeen = -1
    const onData = (d: Buffer) => {
      output += String(d)
      for (const line of String(d).split('\n')) {
        const run = /^Run (\S+): /.exec(line)
        const epoch = /^epoch (\d+): /.exec(line)
        if (!(run && !runId) && !epoch) continue
        if (run) runId = run[1]
        const now = Date.now()
        const gap = lastLine ? now - lastLine : 400
        lastLine = now
        epochsSeen++
        if (at && 'epoch' in at && epochsSeen === at.epoch && !timer) kill(Math.round(at.frac * 1.2 * gap))
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', reject)
    child.on('close', async (code) => {
      if (timer) clearTimeout(timer)
      // The training process notices its parent is gone; give it a bounded time to end.
      const deadline = Date.now() + 30_000
      while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
      const allGone = !groupAlive(pgid)
      if (allGone) groups.delete(pgid)
      resolve({ code, killed, runId, output, allGone })
    })
  })
}

const FLOAT_BYTES: Record<string, number> = { float32: 4, int32: 4 }

/** A checkpoint folder is whole: model.json parses and weights.bin has every tensor's bytes. */
function checkCheckpoint(dir: string): void {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { shape: number[]; dtype: string }[] }[] }
  for (const g of json.weightsManifest) {
    const want = g.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1) * FLOAT_BYTES[w.dtype], 0)
    const have = g.paths.reduce((a, p) => a + statSync(join(dir, p)).size, 0)
    expect(have, `${dir}: weight bytes`).toBe(want)
  }
}

/** Files no finished training leaves: locks, temporary files and folders, run folders without their config. */
function leftovers(): string[] {
  const dotted = listTree(project).filter((p) => p.split('/').some((seg) => seg.startsWith('.')))
  const runs = readdirSync(join(project, 'runs'))
    .filter((r) => !r.startsWith('.') && !existsSync(join(project, 'runs', r, 'config.json')))
    .map((r) => `runs/${r}/ (no config.json)`)
  return [...dotted, ...runs]
}

describe('kill -9 during training', () => {
  it('leaves runs that list, show as interrupted, resume, and no leftovers after the next start', async () => {
    const rnd = seeded(SEED)
    const common = ['--recipe', 'cnn', '--model', 'fashion-mnist-cnn', '--batch', '8']
    console.log(`training kill -9: seed ${SEED}`)
    const t0 = Date.now()
    let reps = 0
    const resumable: string[] = []
    while (reps < MAX_REPS && (reps < MIN_REPS || Date.now() - t0 < BUDGET_MS)) {
      // Mostly during the epochs (their ends write the checkpoints), sometimes while the command
      // starts (before or while it makes the run folder).
      const at: KillAt = rnd() < 0.2 ? { afterSpawnMs: Math.round(rnd() * 8000) } : { epoch: Math.floor(rnd() * (EPOCHS - 1)), frac: rnd() < 0.5 ? rnd() : 0.6 + 0.4 * rnd() }
      const before = new Map((await listRuns(project)).map((r) => [r.runId, r]))
      const whole = reps % 2 === 1
      const r = await train([...common, '--epochs', String(EPOCHS), '--seed', String(100 + reps)], at, whole)
      const killedRun = (await listRuns(project)).find((x) => !before.has(x.runId))
      console.log(`  rep ${reps}: killed ${whole ? 'command and training process' : 'the command'} ${'afterSpawnMs' in at ? `${at.afterSpawnMs} ms after the spawn` : `in epoch ${at.epoch + 1} at ${at.frac.toFixed(2)}`}${r.killed ? '' : ` (ended first, code ${r.code})`}; run ${killedRun ? `${killedRun.runId}: ${killedRun.status} after ${killedRun.epochsDone} epoch(s)` : '(none)'}; left: ${leftovers().join(', ') || 'nothing'}`)
      expect(r.allGone, `the training process outlived the killed command:\n${r.output}`).toBe(true)
      // Every start after a kill is a new training that works (and cleans what the kill left).
      if ('epoch' in at) expect(r.runId, `the training did not start:\n${r.output}`).not.toBeNull()

      // The run list reads; earlier runs are as they were; the killed run is interrupted (the
      // whole group killed) or stopped (its training process saw the command go and stopped
      // after its batch): resumable either way, never shown as running or failed.
      const runs = await listRuns(project)
      for (const [id, old] of before) expect(runs.find((x) => x.runId === id), `run ${id} is still listed`).toMatchObject({ status: old.status, epochsDone: old.epochsDone })
      for (const run of runs) expect(['interrupted', 'stopped', 'completed'], `run ${run.runId}`).toContain(run.status)
      if (r.killed && killedRun) {
        if (killedRun.status === 'completed') expect(killedRun.epochsDone).toBe(EPOCHS)
        else if (killedRun.hasLast) resumable.push(killedRun.runId)
      }
      // Whatever is on disk as a checkpoint is whole.
      for (const run of runs)
        for (const which of ['best', 'last'])
          if (existsSync(join(project, 'runs', run.runId, 'checkpoints', which, 'model.json'))) checkCheckpoint(join(project, 'runs', run.runId, 'checkpoints', which))
      reps++
    }
    console.log(`training kill -9: ${reps} repetitions in ${((Date.now() - t0) / 1000).toFixed(1)} s; resumable: ${resumable.length}`)

    // A kill inside a checkpoint write is a few milliseconds wide: make sure the next start sees
    // what one leaves (a temporary checkpoint folder and status file), whatever the moments hit.
    const someRun = (await listRuns(project))[0].runId
    mkdirSync(join(project, 'runs', someRun, 'checkpoints', '.last.tmp-0000beef'), { recursive: true })
    writeFileSync(join(project, 'runs', someRun, 'checkpoints', '.last.tmp-0000beef', 'weights.bin'), Buffer.alloc(100))
    writeFileSync(join(project, 'runs', someRun, '.status.json.00000000beef.tmp'), '{"sta')

    // The next start cleans up and completes: a killed run resumed (when one finished an
    // epoch), else a new one.
    const last = resumable.at(-1)
    let next: TrainRun
    if (last) {
      const epochsDone = (await listRuns(project)).find((x) => x.runId === last)!.epochsDone
      next = await train(['--resume', last, '--epochs', String(epochsDone + 2)], null)
      expect(next.code, next.output).toBe(0)
      expect(next.output).toMatch(/resumed after epoch \d+/)
      expect((await listRuns(project)).find((x) => x.runId === last)).toMatchObject({ status: 'completed', hasLast: true })
    } else {
      next = await train([...common, '--epochs', '2', '--seed', '7'], null)
      expect(next.code, next.output).toBe(0)
      expect((await listRuns(project)).find((x) => x.runId === next.runId)).toMatchObject({ status: 'completed', epochsDone: 2, hasLast: true })
    }
    expect(next.output).toContain('Cleaned after an interrupted training: removed')
    expect(leftovers(), 'leftovers after the next training').toEqual([])
  }, 300_000)

  it('the next start removes only what trainings make, repairs a half-swapped checkpoint and marks dead runs interrupted', async () => {
    const p = join(root, 'planted')
    await createProject(p)
    await closeProject(p)
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid! // a process that has ended
    const write = (rel: string, text = '{}') => {
      mkdirSync(join(p, rel, '..'), { recursive: true })
      writeFileSync(join(p, rel), text)
    }
    const run = 'runs/20260101-000000-cnn-aaaa'
    write(`${run}/config.json`, JSON.stringify({ runId: '20260101-000000-cnn-aaaa', createdAt: '2026-01-01T00:00:00.000Z', recipe: 'cnn', options: { epochs: 3, model: 'fashion-mnist-cnn' }, labels: ['a', 'b'] }))
    write(`${run}/status.json`, JSON.stringify({ status: 'running', updatedAt: '2026-01-01T00:00:00.000Z', pid: deadPid, backend: 'wasm', epochsDone: 1, best: null, stoppedEarly: false }))
    write(`${run}/checkpoints/best/model.json`, 'new best')
    // What kills leave: temporary files and folders, a replaced checkpoint next to its successor,
    // a checkpoint moved aside whose successor never arrived, a run folder without its config,
    // the training lock's temporary file of a dead process, a feature cache being computed.
    const made = [`${run}/.status.json.0123456789ab.tmp`, `${run}/checkpoints/.last.tmp-deadbeef/weights.bin`, `${run}/checkpoints/.best.old-0badf00d/model.json`, `runs/.training.lock.${deadPid}.abcdef12`, 'cache/.features-0123456789abcdef.tmp-abcdef12/train.f32']
    for (const f of made) write(f)
    write(`${run}/checkpoints/.last.old-12345678/model.json`, 'previous last')
    mkdirSync(join(p, 'runs/20260101-000001-cnn-bbbb/checkpoints'), { recursive: true })
    // What a person (or a live process) put there: kept.
    const theirs = [`${run}/notes.txt`, `${run}/checkpoints/.mine`, 'runs/20260101-000002-cnn-cccc/checkpoints/x.txt', `runs/.training.lock.${process.pid}.abcdef12`, 'cache/features-0123456789abcdef/meta.json', 'runs/.status.json.0123456789ab.tmp.bak']
    for (const f of theirs) write(f, 'mine')

    const done = await removeRunLeftovers(p)
    expect(done.length).toBeGreaterThan(0)
    const gone = [`${run}/.status.json.0123456789ab.tmp`, `${run}/checkpoints/.last.tmp-deadbeef`, `${run}/checkpoints/.best.old-0badf00d`, `${run}/checkpoints/.last.old-12345678`, `runs/.training.lock.${deadPid}.abcdef12`, 'cache/.features-0123456789abcdef.tmp-abcdef12']
    for (const f of gone) expect(existsSync(join(p, f)), f).toBe(false)
    expect(existsSync(join(p, 'runs/20260101-000001-cnn-bbbb')), 'an empty run folder without config').toBe(false)
    for (const f of theirs) expect(readFileSync(join(p, f), 'utf8'), f).toBe('mine')
    expect(readFileSync(join(p, run, 'checkpoints/best/model.json'), 'utf8')).toBe('new best')
    expect(readFileSync(join(p, run, 'checkpoints/last/model.json'), 'utf8')).toBe('previous last')
    expect(readdirSync(join(p, run, 'checkpoints')).sort()).toEqual(['.mine', 'best', 'last'])
    expect(JSON.parse(readFileSync(join(p, run, 'status.json'), 'utf8'))).toMatchObject({ status: 'interrupted', epochsDone: 1 })
    expect((await listRuns(p)).map((r) => [r.runId, r.status, r.hasLast])).toEqual([['20260101-000000-cnn-aaaa', 'interrupted', true]])
    // A second pass finds nothing more to do.
    expect(await removeRunLeftovers(p)).toEqual([])
  })
})
