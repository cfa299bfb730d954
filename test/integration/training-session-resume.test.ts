import { copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { importDataset } from '../../src/main/services/datasets'
import { createProject } from '../../src/main/services/projects'
import { listRuns, setTrainerSpawner, spawnTrainer, type TrainerProcess } from '../../src/main/services/training'
import { startInBackground, stopInBackground, trainingStatus } from '../../src/main/services/training/session'
import type { Events } from '../../src/shared/contract'
import type { FromTrainer, ToTrainer } from '../../src/main/services/training/protocol'
import { serveTrainer } from '../../src/main/worker/serve'

// The studio's side (what the Train view's Stop and Resume buttons call): training.start /
// training.stop / training.status through the training service and the trainer's message
// loop, here in this process behind a fake TrainerProcess so the test stays fast. The default
// one-click recipe: MobileNetV2 transfer with the offline weights, head on cached features.

let root: string
let project: string

/** The trainer's message loop in this process, speaking the same messages as the real one. */
function inProcessTrainer(): TrainerProcess {
  const toTrainer: ((m: unknown) => void)[] = []
  const fromTrainer: ((m: FromTrainer) => void)[] = []
  const exits: ((code: number | null, signal: string | null) => void)[] = []
  void serveTrainer({
    send: (m) => setImmediate(() => fromTrainer.forEach((l) => l(structuredClone(m)))),
    on: (l) => toTrainer.push(l),
    close: () => setImmediate(() => exits.forEach((cb) => cb(0, null))),
  })
  return {
    pid: process.pid,
    send: (m: ToTrainer) => setImmediate(() => toTrainer.forEach((l) => l(structuredClone(m)))),
    onMessage: (cb) => fromTrainer.push(cb),
    onExit: (cb) => exits.push(cb),
    stderrTail: () => '',
    kill: () => undefined,
  }
}

async function writeImages(dir: string, perClass: number) {
  let seed = 9
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (const [ci, name] of ['left', 'right'].entries()) {
    mkdirSync(join(dir, name), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(96 * 96 * 3)
      for (let y = 0; y < 96; y++)
        for (let x = 0; x < 96; x++) {
          const on = ci === 0 ? x < 32 : x > 64
          for (let c = 0; c < 3; c++) px[(y * 96 + x) * 3 + c] = Math.round((on ? 210 : 40) + (rnd() - 0.5) * 50)
        }
      await sharp(px, { raw: { width: 96, height: 96, channels: 3 } }).png().toFile(join(dir, name, `${i}.png`))
    }
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cs-session-resume-'))
  process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
  process.env.CLASSIFIER_STUDIO_BACKEND = 'wasm'
  await initBackend('wasm')
  await writeImages(join(root, 'images'), 8)
  project = join(root, 'proj')
  await createProject(project)
  await importDataset(project, join(root, 'images'), { size: 96, val: 0.25 })
  setTrainerSpawner(inProcessTrainer)
})
afterAll(() => {
  setTrainerSpawner(spawnTrainer)
  delete process.env.CLASSIFIER_STUDIO_BACKEND
  rmSync(root, { recursive: true, force: true })
})

/** Collects the broadcast `training` events; `until` resolves at the first event matching. */
function listener() {
  const events: Events['training'][] = []
  const waiters: { test: (e: Events['training']) => boolean; resolve: (e: Events['training']) => void }[] = []
  const emit = (_name: 'training', p: Events['training']) => {
    events.push(p)
    for (const w of waiters.filter((x) => x.test(p))) {
      waiters.splice(waiters.indexOf(w), 1)
      w.resolve(p)
    }
  }
  const until = (test: (e: Events['training']) => boolean) => new Promise<Events['training']>((resolve) => waiters.push({ test, resolve }))
  return { events, emit, until }
}

describe('studio: Stop, then Resume, of the one-click transfer run', () => {
  it('stops (not failed), a failed resume leaves it resumable with the error shown, and Resume finishes it with the whole history', async () => {
    const a = listener()
    const ended = a.until((p) => p.event.type === 'done' || p.event.type === 'error')
    a.until((p) => p.event.type === 'epoch' && p.event.epoch === 1).then(() => stopInBackground(project))
    const { runId } = await startInBackground(project, { epochs: 5, batchSize: 4 }, a.emit)
    expect(runId).toMatch(/-transfer-/)
    const done = (await ended).event
    expect(done).toMatchObject({ type: 'done', result: { stopped: true } })
    const stoppedEpochs = done.type === 'done' ? done.result.epochs : []
    expect(stoppedEpochs.length).toBeGreaterThanOrEqual(1)
    expect(stoppedEpochs.length).toBeLessThan(5)
    // The job ends just after its last event.
    await vi.waitFor(() => expect(trainingStatus(project).running).toBe(false), { timeout: 10_000 })
    expect(trainingStatus(project)).toMatchObject({ runId, epochs: stoppedEpochs })
    expect((await listRuns(project)).find((r) => r.runId === runId)).toMatchObject({ status: 'stopped', hasLast: true, epochsDone: stoppedEpochs.length })

    // A resume that fails (its checkpoint damaged): the error reaches the page, the run stays stopped.
    const weights = join(project, 'runs', runId!, 'checkpoints', 'last', 'weights.bin')
    copyFileSync(weights, join(root, 'weights.bak'))
    truncateSync(weights, 100)
    const b = listener()
    const failure = await startInBackground(project, { resumeRunId: runId! }, b.emit).catch((e: unknown) => e)
    expect(failure).toMatchObject({ code: 'PROJECT_DAMAGED' })
    const error = b.events.find((p) => p.event.type === 'error')?.event
    expect(error).toMatchObject({ type: 'error', error: { code: 'PROJECT_DAMAGED' } })
    expect(error?.type === 'error' && error.error.message).toMatch(new RegExp(`Could not resume run ${runId}: The checkpoint .* is damaged`))
    expect(error?.type === 'error' && error.error.hint).toMatch(/left as it was \(stopped/)
    expect(b.events.some((p) => p.event.type === 'start')).toBe(false)
    expect((await listRuns(project)).find((r) => r.runId === runId)).toMatchObject({ status: 'stopped', hasLast: true, epochsDone: stoppedEpochs.length })

    // Resume: the same run continues after its last epoch and finishes; status has every epoch.
    copyFileSync(join(root, 'weights.bak'), weights)
    const c = listener()
    const finished = c.until((p) => p.event.type === 'done' || p.event.type === 'error')
    const resumed = await startInBackground(project, { resumeRunId: runId! }, c.emit)
    expect(resumed.runId).toBe(runId)
    expect(c.events.find((p) => p.event.type === 'start')?.event).toMatchObject({ type: 'start', runId, resumedFromEpoch: stoppedEpochs.length, epochs: 5 })
    expect(trainingStatus(project).epochs).toEqual(stoppedEpochs)
    const end = (await finished).event
    expect(end).toMatchObject({ type: 'done', result: { runId, stopped: false } })
    const all = end.type === 'done' ? end.result.epochs : []
    expect(all.map((m) => m.epoch)).toEqual([1, 2, 3, 4, 5])
    expect(all.slice(0, stoppedEpochs.length)).toEqual(stoppedEpochs)
    await vi.waitFor(() => expect(trainingStatus(project).running).toBe(false), { timeout: 10_000 })
    expect(trainingStatus(project)).toMatchObject({ runId, epochs: all })
    expect((await listRuns(project)).find((r) => r.runId === runId)).toMatchObject({ status: 'completed', epochsDone: 5 })
  })
})
