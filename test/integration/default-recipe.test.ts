import * as tf from '@tensorflow/tfjs'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { buildTransferModel } from '../../src/main/ml/models'
import { cutTransferModel, truncateBase } from '../../src/main/ml/models/transfer'
import { autoSchedule, OFFLINE_MOBILENETV2_CUT, offlineWeightsNote, resolveBaseCut, stillImproving } from '../../src/main/ml/training/recipes'
import { listRuns, loadRunModel } from '../../src/main/ml/training/runs'
import { runTraining, type TrainDeps } from '../../src/main/ml/training/train'
import { loadNsfwjsMobileNetV2Weights } from '../../src/main/ml/weights'
import { exportModel, defaultExportDeps, type ExportRun } from '../../src/main/services/export'
import { NSFWJS_WEIGHTS_ID } from '../../src/shared/models'
import { TrainOptions, type TrainEvent, type TrainResult } from '../../src/shared/training'
import { bandsDataset } from '../unit/training-fixtures'

// The one-click default: options, the cut of the offline base, the schedule chosen from the
// data, the "still improving" flag and the weights note, on the real MobileNetV2 architecture
// with the real offline (nsfwjs) weights at 96 px and a tiny generated dataset.

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'cs-default-'))
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
beforeAll(async () => {
  await initBackend('wasm')
})

const data = bandsDataset({ size: 96, channels: 3, perClass: { train: 8, validation: 4 }, seed: 11 })
/** The offline weights, as loadBaseWeights loads them when no official file is cached. */
const offline: TrainDeps = {
  data,
  loadBaseWeights: async (base) => {
    loadNsfwjsMobileNetV2Weights(base)
    return NSFWJS_WEIGHTS_ID
  },
}
const officialLike: TrainDeps = { data, loadBaseWeights: async () => 'keras:mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5' }

const config = (dir: string, runId: string) => JSON.parse(readFileSync(join(dir, 'runs', runId, 'config.json'), 'utf8'))
const status = (dir: string, runId: string) => JSON.parse(readFileSync(join(dir, 'runs', runId, 'status.json'), 'utf8'))

describe('one-click options', () => {
  it('no epochs given: epochs chosen from the data, the cut chosen from the weights', () => {
    expect(TrainOptions.parse({})).toMatchObject({ recipe: 'transfer', base: 'mobilenetv2', autoEpochs: true, baseCut: 'auto', epochs: 10 })
    expect(TrainOptions.parse({ epochs: 'auto' as never })).toMatchObject({ autoEpochs: true })
    expect(TrainOptions.parse({ epochs: 7 })).toMatchObject({ autoEpochs: false, epochs: 7, baseCut: 'auto' })
    expect(TrainOptions.parse({ epochs: 7, autoEpochs: true })).toMatchObject({ autoEpochs: true })
    // A parsed object parses to itself (the worker re-parses what the service parsed).
    const p = TrainOptions.parse({ epochs: 7 })
    expect(TrainOptions.parse(p)).toEqual(p)
  })

  it('autoSchedule: 50 epochs (patience 10) for small and mid-size sets, fewer for large ones (about 3,000 steps, at least 15)', () => {
    expect(autoSchedule(10, 32)).toEqual({ epochs: 50, patience: 10 })
    expect(autoSchedule(128, 32)).toEqual({ epochs: 50, patience: 10 })
    expect(autoSchedule(2000, 32)).toEqual({ epochs: 48, patience: 10 })
    expect(autoSchedule(20_000, 32)).toEqual({ epochs: 15, patience: 5 })
    expect(autoSchedule(200_000, 32)).toEqual({ epochs: 15, patience: 5 })
  })

  it('stillImproving only when a run ran all its epochs and its best epoch is the last', () => {
    expect(stillImproving({ bestEpoch: 10, epochsDone: 10, epochsPlanned: 10, stopped: false, stoppedEarly: false })).toBe(true)
    expect(stillImproving({ bestEpoch: 9, epochsDone: 10, epochsPlanned: 10, stopped: false, stoppedEarly: false })).toBe(false)
    expect(stillImproving({ bestEpoch: 4, epochsDone: 4, epochsPlanned: 10, stopped: true, stoppedEarly: false })).toBe(false)
    expect(stillImproving({ bestEpoch: 6, epochsDone: 6, epochsPlanned: 10, stopped: false, stoppedEarly: true })).toBe(false)
  })

  it('resolveBaseCut: the offline weights get the measured cut, other weights the whole base', () => {
    const { model, base } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2, alpha: 0.35 })
    const offlineCut = OFFLINE_MOBILENETV2_CUT === 'full' ? null : OFFLINE_MOBILENETV2_CUT
    expect(resolveBaseCut('auto', NSFWJS_WEIGHTS_ID, base)).toBe(offlineCut)
    expect(resolveBaseCut('auto', 'keras:mobilenet_v2.h5', base)).toBeNull()
    expect(resolveBaseCut('full', NSFWJS_WEIGHTS_ID, base)).toBeNull()
    expect(resolveBaseCut(undefined, NSFWJS_WEIGHTS_ID, base)).toBeNull()
    expect(resolveBaseCut('block_12_add', 'keras:x', base)).toBe('block_12_add')
    expect(resolveBaseCut('out_relu', 'keras:x', base)).toBeNull()
    model.dispose()
  })

  it('truncateBase / cutTransferModel keep the weights below the cut and free the rest', () => {
    const before = tf.memory().numTensors
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 3, alpha: 0.35 })
    const w = t.base.getLayer('block_12_project').getWeights()[0].clone()
    const c = cutTransferModel(t, 'block_12_add', 3)
    expect(c.base.outputs[0].shape).toEqual([null, 6, 6, 32])
    expect(c.base.name).toBe(t.base.name)
    expect(c.model.outputs[0].shape).toEqual([null, 3])
    const d = tf.tidy(() => tf.max(tf.abs(tf.sub(c.base.getLayer('block_12_project').getWeights()[0], w))))
    expect(d.dataSync()[0]).toBe(0)
    d.dispose()
    expect(() => c.base.getLayer('out_relu')).toThrow()
    expect(() => truncateBase(c.base, 'no_such_layer')).toThrow(/no layer "no_such_layer"/)
    w.dispose()
    c.model.dispose()
    c.head.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('one-click training on the offline weights', () => {
  it('records the cut and the chosen schedule, says the weights are partial, and flags a run still improving', async () => {
    const dir = tmp()
    const events: TrainEvent[] = []
    const r = await runTraining(dir, {}, { deps: offline, onEvent: (e) => events.push(e) })
    const cfg = config(dir, r.runId)
    const sched = autoSchedule(16, 32)
    expect(cfg.options).toMatchObject({ autoEpochs: true, epochs: sched.epochs, baseCut: OFFLINE_MOBILENETV2_CUT === 'full' ? 'full' : OFFLINE_MOBILENETV2_CUT })
    expect(cfg.options.earlyStop).toMatchObject({ monitor: 'val_loss', patience: sched.patience, restoreBestWeights: true })
    expect(r.weightsNote).toBe(offlineWeightsNote(96))
    expect(r.weightsNote).toMatch(/only partly ImageNet-trained.*"classifier-studio weights download mobilenetv2 --size 96"/)
    expect(offlineWeightsNote(224)).toMatch(/"classifier-studio weights download mobilenetv2"/)
    expect(events.find((e) => e.type === 'start')).toMatchObject({ epochs: sched.epochs, weightsNote: offlineWeightsNote(96) })
    const expected = !r.stoppedEarly && r.best.epoch === r.epochs.length && r.epochs.length === sched.epochs
    expect(r.stillImproving).toBe(expected)
    expect(status(dir, r.runId)).toMatchObject({ status: 'completed', stillImproving: expected, weightsNote: offlineWeightsNote(96) })
    // What the run list (the UI's runs, `runs` command) says about it.
    const info = (await listRuns(dir)).find((x) => x.runId === r.runId)!
    expect(info).toMatchObject({ baseCut: cfg.options.baseCut, stillImproving: expected, weightsNote: offlineWeightsNote(96), epochsPlanned: sched.epochs })
  }, 300_000)

  it('an explicit epoch count keeps it (no early stopping unless asked); other weights get no note and the whole base', async () => {
    const dir = tmp()
    const r = await runTraining(dir, { epochs: 3, learningRate: 1e-2 }, { deps: officialLike })
    const cfg = config(dir, r.runId)
    expect(cfg.options).toMatchObject({ autoEpochs: false, epochs: 3, baseCut: 'full' })
    expect(cfg.options.earlyStop).toBeUndefined()
    expect(r.weightsNote).toBeNull()
    expect(r.epochs).toHaveLength(3)
    // lr 1e-2 on separable bands: the best epoch is the last, the run is "still improving".
    if (r.best.epoch === 3) expect(r.stillImproving).toBe(true)
    else expect(r.stillImproving).toBe(false)
    const m = await loadRunModel(dir, r.runId)
    expect(m.model.layers.find((l) => l.name.startsWith('mobilenetv2'))!.outputShape).toEqual([null, 3, 3, 1280])
    m.model.dispose()
  }, 300_000)

  it('a model cut at block_12_add: the run stores the cut, stop + resume equals the whole run, the ONNX export passes parity', async () => {
    const dir = tmp()
    const opts = { baseCut: 'block_12_add', epochs: 4, batchSize: 8, seed: 9 }
    const whole = await runTraining(dir, opts, { deps: offline })
    expect(config(dir, whole.runId).options.baseCut).toBe('block_12_add')

    const ac = new AbortController()
    const stopped: TrainResult = await runTraining(dir, opts, { deps: offline, signal: ac.signal, onEvent: (e) => e.type === 'epoch' && e.epoch === 2 && ac.abort() })
    expect(stopped.stopped).toBe(true)
    // The feature cache of this cut is reused, not recomputed.
    expect(readdirSync(join(dir, 'cache')).filter((d) => d.startsWith('features-'))).toHaveLength(1)
    const resumed = await runTraining(dir, { resumeRunId: stopped.runId }, { deps: offline })
    expect(resumed.epochs.map((m) => m.valLoss)).toEqual(whole.epochs.map((m) => m.valLoss))
    const a = await loadRunModel(dir, whole.runId, 'last')
    const b = await loadRunModel(dir, resumed.runId, 'last')
    const baseOf = (m: tf.LayersModel) => m.layers.find((l) => Array.isArray((l as unknown as { layers?: unknown }).layers)) as unknown as tf.LayersModel
    expect(baseOf(a.model).outputs[0].shape).toEqual([null, 6, 6, 96])
    expect(baseOf(b.model).outputs[0].shape).toEqual([null, 6, 6, 96])
    const wa = a.model.getWeights()
    const wb = b.model.getWeights()
    expect(wa.length).toBe(wb.length)
    for (let i = 0; i < wa.length; i++) expect(tf.max(tf.abs(tf.sub(wa[i], wb[i]))).dataSync()[0]).toBeLessThan(1e-5)
    b.model.dispose()

    // ONNX export of the cut model, parity on the run's own kind of images.
    const out = join(dir, 'export.onnx.d')
    const batch = await data.batches('validation', { batchSize: 8, shuffle: false, seed: 0 })[Symbol.asyncIterator]().next()
    const x = batch.value!.x as Uint8Array
    const run = (): ExportRun => ({ model: a.model, labels: a.labels, preprocess: a.preprocess, settings: { inputSize: 96, resizeMode: 'squash', background: '#ffffff', channels: 3 }, runId: whole.runId, recipe: 'transfer' })
    const golden = { ids: Int32Array.from({ length: 8 }, (_, i) => i), labels: new Int32Array(8), x, shape: [8, 96, 96, 3] as [number, number, number, number], source: 'generated bands' }
    const ex = await exportModel('/unused', { format: 'onnx', out }, {}, { ...defaultExportDeps, loadRun: async () => run(), goldenSet: async () => golden })
    expect(ex.parity.passed).toBe(true)
    expect(ex.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(ex.parity.labelAgreement).toBe(1)

    // Another cut of the same images gets its own feature cache; the first one is kept.
    const logs: string[] = []
    await runTraining(dir, { baseCut: 'full', epochs: 1, batchSize: 8 }, { deps: offline, onEvent: (e) => e.type === 'log' && logs.push(e.message) })
    expect(logs.join('\n')).toMatch(/Computed base features/)
    expect(readdirSync(join(dir, 'cache')).filter((d) => d.startsWith('features-'))).toHaveLength(2)
    const again: string[] = []
    await runTraining(dir, { ...opts, epochs: 1 }, { deps: offline, onEvent: (e) => e.type === 'log' && again.push(e.message) })
    expect(again.join('\n')).toMatch(/Using cached base features/)
  }, 600_000)
})
