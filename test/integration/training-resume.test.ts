import * as tf from '@tensorflow/tfjs'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { buildTransferModel } from '../../src/main/ml/models'
import { listRuns, loadRunModel, readMetrics } from '../../src/main/ml/training/runs'
import { runTraining, type TrainDeps } from '../../src/main/ml/training/train'
import { getExample } from '../../src/shared/examples'
import type { TrainEvent, TrainOptionsInput, TrainResult } from '../../src/shared/training'
import { bandsDataset } from '../unit/training-fixtures'

// Stop and resume for every recipe, in-process on the wasm backend, with the real MobileNetV2
// architecture (alpha 0.35, 96 px, its own random initialisation standing in for the ImageNet
// weights) and a tiny generated dataset: a resumed run continues the stopped one epoch for
// epoch and ends where the uninterrupted run ends.

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'cs-resume-'))
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
beforeAll(async () => {
  await initBackend('wasm')
})

const data = bandsDataset({ size: 96, channels: 3, perClass: { train: 6, validation: 3 }, seed: 5 })
const deps: TrainDeps = {
  data,
  buildTransfer: (b, o) => buildTransferModel(b, { ...o, alpha: 0.35 }),
  loadBaseWeights: async () => 'test: random initialisation',
}

/** Runs `opts`, stopping (as the Stop button does) once epoch `stopAt` is logged. */
async function runAndStop(dir: string, opts: TrainOptionsInput, stopAt: number, d: TrainDeps = deps): Promise<TrainResult> {
  const ac = new AbortController()
  return runTraining(dir, opts, { deps: d, signal: ac.signal, onEvent: (e) => e.type === 'epoch' && e.epoch === stopAt && ac.abort() })
}

/** Uninterrupted vs stopped-then-resumed: same epochs, same metrics, same final weights. */
async function expectResumeContinues(dir: string, opts: TrainOptionsInput, stopAt: number, d: TrainDeps = deps): Promise<{ whole: TrainResult; resumed: TrainResult; events: TrainEvent[] }> {
  const total = opts.epochs!
  const whole = await runTraining(dir, opts, { deps: d })
  const stopped = await runAndStop(dir, opts, stopAt, d)
  expect(stopped.stopped).toBe(true)
  expect(stopped.epochs.map((m) => m.epoch)).toEqual(Array.from({ length: stopAt }, (_, i) => i + 1))
  const st = (await listRuns(dir)).find((r) => r.runId === stopped.runId)!
  expect(st).toMatchObject({ status: 'stopped', epochsDone: stopAt, hasLast: true })

  const events: TrainEvent[] = []
  const resumed = await runTraining(dir, { resumeRunId: stopped.runId }, { deps: d, onEvent: (e) => events.push(e) })
  expect(resumed.runId).toBe(stopped.runId)
  expect(resumed.stopped).toBe(false)
  expect(events.find((e) => e.type === 'start')).toMatchObject({ resumedFromEpoch: stopAt, epochs: total })
  // The only epochs trained now are the missing ones; the history continues the stopped run's.
  expect(events.filter((e) => e.type === 'epoch').map((e) => (e as { epoch: number }).epoch)).toEqual(Array.from({ length: total - stopAt }, (_, i) => stopAt + i + 1))
  expect(resumed.epochs.map((m) => m.epoch)).toEqual(Array.from({ length: total }, (_, i) => i + 1))
  expect(resumed.epochs.slice(0, stopAt)).toEqual(stopped.epochs)
  expect(await readMetrics(dir, resumed.runId)).toEqual(resumed.epochs)
  expect((await listRuns(dir)).find((r) => r.runId === resumed.runId)).toMatchObject({ status: 'completed', epochsDone: total, epochsPlanned: total })
  // Weights, optimizer state, learning rate and callbacks came back: the metrics after the
  // resume are those of the run that never stopped.
  resumed.epochs.forEach((m, i) => {
    const w = whole.epochs[i]
    expect(m.loss, `loss of epoch ${i + 1}`).toBeCloseTo(w.loss, 4)
    expect(m.valLoss!, `val_loss of epoch ${i + 1}`).toBeCloseTo(w.valLoss!, 4)
    expect(m.lr).toBe(w.lr)
  })
  const a = await loadRunModel(dir, whole.runId, 'last')
  const b = await loadRunModel(dir, resumed.runId, 'last')
  const [wa, wb] = [a.model.getWeights(), b.model.getWeights()]
  expect(wb).toHaveLength(wa.length)
  const diffs = tf.tidy(() => wa.map((t, i) => tf.max(tf.abs(tf.sub(t, wb[i]))).dataSync()[0]))
  diffs.forEach((d, i) => expect(d, `weight ${i}`).toBeLessThan(1e-3))
  a.model.dispose()
  b.model.dispose()
  return { whole, resumed, events }
}

describe('stop and resume, every recipe', () => {
  it('transfer (the one-click default: head on cached base features) resumes where it stopped', async () => {
    const dir = tmp()
    const before = tf.memory().numTensors
    const { events } = await expectResumeContinues(dir, { recipe: 'transfer', epochs: 3, batchSize: 4, learningRate: 0.01, seed: 3 }, 1)
    const logs = events.filter((e) => e.type === 'log').map((e) => (e as { message: string }).message)
    expect(logs.join('\n')).toMatch(/Using cached base features/)
    expect(logs.join('\n')).toMatch(/Optimizer state restored \(adam\)/)
    expect(tf.memory().numTensors).toBe(before)
  })

  it('transfer with augmentation (frozen base forward-only on every augmented batch) resumes where it stopped', async () => {
    const dir = tmp()
    const { events } = await expectResumeContinues(dir, { recipe: 'transfer', epochs: 3, batchSize: 4, learningRate: 0.01, augment: 'flip', seed: 4 }, 2)
    expect(events.some((e) => e.type === 'log' && /Frozen bottom .* runs forward-only/.test(e.message))).toBe(true)
  })

  it('finetune (frozen-bottom split) resumes with its learning-rate schedule and early stopping state', async () => {
    const dir = tmp()
    const t = await runTraining(dir, { recipe: 'transfer', epochs: 1, batchSize: 4, learningRate: 0.01, seed: 3 }, { deps })
    // A plateau patience of 0 lowers the learning rate after every epoch without improvement, so
    // the schedule differs by epoch; early stopping restores the best weights at the end.
    const ft: TrainOptionsInput = {
      recipe: 'finetune',
      fromRunId: t.runId,
      fineTuneFrom: 'block_16',
      epochs: 4,
      batchSize: 4,
      learningRate: 0.01,
      optimizer: 'adam',
      seed: 3,
      reduceLrOnPlateau: { patience: 0, factor: 0.5, minDelta: 10 },
      earlyStop: { patience: 10, restoreBestWeights: true },
    }
    const { resumed, events } = await expectResumeContinues(dir, ft, 2)
    // Epoch 1 sets the best; each later epoch halves the rate for the next one.
    expect(resumed.epochs.map((m) => m.lr)).toEqual([0.01, 0.01, 0.005, 0.0025])
    expect(events.some((e) => e.type === 'log' && /Frozen bottom \(input to block_15_add/.test(e.message))).toBe(true)
  })

  it('cnn (a preset from scratch) resumes where it stopped, with a new total of epochs', async () => {
    const dir = tmp()
    const small = bandsDataset({ size: 28, channels: 1, perClass: { train: 8, validation: 4 } })
    const cnnDeps: TrainDeps = { data: small }
    const ac = new AbortController()
    const stopped = await runTraining(dir, { recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 4, batchSize: 8, seed: 2 }, { deps: cnnDeps, signal: ac.signal, onEvent: (e) => e.type === 'epoch' && ac.abort() })
    expect(stopped.epochs).toHaveLength(1)
    const resumed = await runTraining(dir, { resumeRunId: stopped.runId, epochs: 3 }, { deps: cnnDeps })
    expect(resumed.epochs.map((m) => m.epoch)).toEqual([1, 2, 3])
    expect(resumed.epochs[0]).toEqual(stopped.epochs[0])
    expect((await listRuns(dir))[0]).toMatchObject({ status: 'completed', epochsDone: 3, epochsPlanned: 3 })
  })

  it("an example's recipe (Fashion-MNIST: label smoothing, ReduceLROnPlateau, early stopping) resumes where it stopped", async () => {
    const dir = tmp()
    const stage = getExample('fashion-mnist').stages[0].options as TrainOptionsInput
    const fashion: TrainDeps = { data: bandsDataset({ size: 28, channels: 1, perClass: { train: 8, validation: 4 } }) }
    await expectResumeContinues(dir, { ...stage, epochs: 4, batchSize: 8 }, 2, fashion)
  })

  it("an example's recipe (cats vs dogs MobileNetV2, fine-tuning from block_7 as with the offline weights) resumes where it stopped", async () => {
    const dir = tmp()
    const ex = getExample('cats-dogs-mobilenetv2')
    const [transfer, finetune] = ex.stages
    const t = await runTraining(dir, { ...(transfer.options as TrainOptionsInput), epochs: 1, batchSize: 4 }, { deps })
    const ft = { ...(finetune.options as TrainOptionsInput), ...(finetune.offlineWeights!.options as TrainOptionsInput), fromRunId: t.runId, epochs: 3, batchSize: 4 }
    await expectResumeContinues(dir, ft, 1)
  })

  it('a resume that fails (damaged checkpoint) leaves the stopped run as it was, resumable, with a clear message', async () => {
    const dir = tmp()
    const opts: TrainOptionsInput = { recipe: 'transfer', epochs: 3, batchSize: 4, learningRate: 0.01, seed: 3 }
    const stopped = await runAndStop(dir, opts, 1)
    const last = join(dir, 'runs', stopped.runId, 'checkpoints', 'last')
    const weights = join(last, 'weights.bin')
    copyFileSync(weights, join(dir, 'weights.bak'))
    truncateSync(weights, 1000)
    const metricsBefore = readFileSync(join(dir, 'runs', stopped.runId, 'metrics.jsonl'), 'utf8')
    const events: TrainEvent[] = []
    const before = tf.memory().numTensors
    const err = await runTraining(dir, { resumeRunId: stopped.runId }, { deps, onEvent: (e) => events.push(e) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'PROJECT_DAMAGED' })
    expect((err as Error).message).toMatch(new RegExp(`Could not resume run ${stopped.runId}: The checkpoint in .*last is damaged: its weights are 1000 bytes`))
    expect((err as { hint: string }).hint).toMatch(/left as it was \(stopped, 1 of 3 epochs done\)/)
    expect(events.some((e) => e.type === 'start')).toBe(false)
    expect(tf.memory().numTensors).toBe(before)
    // Still stopped (not failed), same epochs and checkpoints: the UI keeps offering Resume.
    expect((await listRuns(dir)).find((r) => r.runId === stopped.runId)).toMatchObject({ status: 'stopped', epochsDone: 1, hasLast: true })
    expect(readFileSync(join(dir, 'runs', stopped.runId, 'metrics.jsonl'), 'utf8')).toBe(metricsBefore)
    expect(JSON.parse(readFileSync(join(dir, 'runs', stopped.runId, 'status.json'), 'utf8')).error.message).toMatch(/damaged/)

    // Once the file is whole again, the same run resumes and finishes.
    copyFileSync(join(dir, 'weights.bak'), weights)
    const resumed = await runTraining(dir, { resumeRunId: stopped.runId }, { deps })
    expect(resumed.epochs.map((m) => m.epoch)).toEqual([1, 2, 3])
    expect((await listRuns(dir)).find((r) => r.runId === stopped.runId)).toMatchObject({ status: 'completed', epochsDone: 3 })
  })

  it('Stop while the base features are being computed stops the run (not failed) and a resume trains it', async () => {
    const dir = tmp()
    const ac = new AbortController()
    const r = await runTraining(dir, { recipe: 'transfer', epochs: 2, batchSize: 4, seed: 3 }, { deps, signal: ac.signal, onEvent: (e) => e.type === 'log' && /Computing base features/.test(e.message) && ac.abort() })
    expect(r).toMatchObject({ stopped: true, epochs: [] })
    expect((await listRuns(dir))[0]).toMatchObject({ runId: r.runId, status: 'stopped', epochsDone: 0, hasLast: false })
    const resumed = await runTraining(dir, { resumeRunId: r.runId }, { deps })
    expect(resumed.epochs.map((m) => m.epoch)).toEqual([1, 2])
  })
})
