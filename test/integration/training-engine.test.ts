import * as tf from '@tensorflow/tfjs'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { fitLoop, type ReadyBatch } from '../../src/main/ml/training/loop'
import { listRuns, loadRunModel } from '../../src/main/ml/training/runs'
import { runTraining, type TrainDeps } from '../../src/main/ml/training/train'
import { applyPreprocess, RESCALE_01 } from '../../src/main/ml/models'
import { bandsDataset } from '../unit/training-fixtures'

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'cs-train-'))
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
beforeAll(async () => {
  await initBackend('wasm')
})

function tinyCnn(shape: [number, number, number], k: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: shape, filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.25 }),
      tf.layers.dense({ units: k, activation: 'softmax' }),
    ],
  })
}

/** A tiny "pretrained base" with Keras-like block names and BN layers, nested in a transfer model. */
function tinyTransfer(_b: string, o: { inputShape: [number, number, number]; numClasses: number }, dropout = 0.2) {
  const inp = tf.input({ shape: o.inputShape })
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'block_1_conv' }).apply(inp) as tf.SymbolicTensor
  x = tf.layers.batchNormalization({ name: 'block_1_bn' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.reLU({ name: 'block_1_relu' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, name: 'block_2_conv' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.batchNormalization({ name: 'block_2_bn' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.reLU({ name: 'block_2_relu' }).apply(x) as tf.SymbolicTensor
  const base = tf.model({ inputs: inp, outputs: x, name: 'tiny_base' })
  const inputs = tf.input({ shape: o.inputShape })
  const f = base.apply(inputs) as tf.SymbolicTensor
  const g = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(f)
  const d = tf.layers.dropout({ rate: dropout, name: 'dropout' }).apply(g)
  const out = tf.layers.dense({ units: o.numClasses, activation: 'softmax', name: 'dense' }).apply(d) as tf.SymbolicTensor
  return { model: tf.model({ inputs, outputs: out }), base }
}

/** "Pretrained" weights: non-trivial BN moving statistics, so a change would show. */
async function fakePretrained(base: tf.LayersModel): Promise<string> {
  for (const l of base.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue
    const ws = l.getWeights()
    const next = ws.map((w, i) => (i === 2 ? tf.fill(w.shape, -0.3) : i === 3 ? tf.fill(w.shape, 2.5) : w.clone()))
    l.setWeights(next)
    tf.dispose(next)
  }
  return 'fake-pretrained'
}

async function weightsByName(model: tf.LayersModel): Promise<Map<string, Float32Array>> {
  const m = new Map<string, Float32Array>()
  const visit = async (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers
      if (inner) await visit(inner)
      else for (const w of l.weights) m.set(`${l.name}/${w.originalName.split('/').pop()}`, (await w.read().data()) as Float32Array)
    }
  }
  await visit(model.layers)
  return m
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0)

/** All weights in model order (names differ between two builds of the same architecture). */
async function weightList(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array))
}

describe('training engine (in-process, wasm backend)', () => {
  it('trains a CNN end to end, writes the run folder, frees its tensors, and resumes a stopped run to the same result', async () => {
    const data = bandsDataset({ size: 8 })
    const deps: TrainDeps = { data, buildCnn: tinyCnn }
    const opts = { recipe: 'cnn', epochs: 4, batchSize: 8, learningRate: 0.01, seed: 7 } as const
    const before = tf.memory().numTensors
    const dirA = tmp()
    const events: string[] = []
    const a = await runTraining(dirA, opts, { deps, onEvent: (e) => events.push(e.type) })
    expect(tf.memory().numTensors).toBe(before)
    expect(a.epochs).toHaveLength(4)
    expect(a.stopped).toBe(false)
    expect(events[0]).toBe('start')
    expect(events).toContain('batch')
    expect(events.at(-1)).toBe('done')
    expect(a.epochs.at(-1)!.valAccuracy).toBeGreaterThanOrEqual(0.9)
    const run = join(dirA, 'runs', a.runId)
    for (const f of ['config.json', 'status.json', 'labels.json', 'preprocess.json', 'log.txt', 'checkpoints/best/model.json', 'checkpoints/best/weights.bin', 'checkpoints/last/optimizer.bin', 'checkpoints/last/state.json'])
      expect(existsSync(join(run, f)), f).toBe(true)
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4)
    expect(readFileSync(join(run, 'log.txt'), 'utf8')).toMatch(/backend: wasm/)
    expect((await listRuns(dirA))[0]).toMatchObject({ runId: a.runId, status: 'completed', epochsDone: 4, hasBest: true })

    // The saved best model predicts the validation split as well as training measured.
    const best = await loadRunModel(dirA)
    const xs: Uint8Array[] = []
    const ys: number[] = []
    for await (const b of data.batches('validation', { batchSize: 100, shuffle: false, seed: 0 })) {
      xs.push(b.x)
      ys.push(...b.labels)
    }
    const pred = tf.tidy(() => (best.model.predict(applyPreprocess(tf.tensor4d(xs[0], [ys.length, 8, 8, 1], 'int32'), RESCALE_01)) as tf.Tensor).argMax(-1))
    const p = await pred.data()
    pred.dispose()
    const acc = ys.filter((y, i) => p[i] === y).length / ys.length
    expect(acc).toBeCloseTo(a.epochs[a.best.epoch - 1].valAccuracy!, 6)
    best.model.dispose()

    // Stop after epoch 2, then resume: same metrics and weights as the uninterrupted run.
    const dirB = tmp()
    const ac = new AbortController()
    const b1 = await runTraining(dirB, opts, { deps, signal: ac.signal, onEvent: (e) => e.type === 'epoch' && e.epoch === 2 && ac.abort() })
    expect(b1.stopped).toBe(true)
    expect(b1.epochs).toHaveLength(2)
    expect((await listRuns(dirB))[0].status).toBe('stopped')
    const b2 = await runTraining(dirB, { resumeRunId: b1.runId }, { deps })
    expect(b2.runId).toBe(b1.runId)
    expect(b2.epochs).toHaveLength(4)
    b2.epochs.forEach((m, i) => {
      expect(m.loss).toBeCloseTo(a.epochs[i].loss, 5)
      expect(m.valLoss!).toBeCloseTo(a.epochs[i].valLoss!, 5)
    })
    const la = await loadRunModel(dirA, a.runId, 'last')
    const lb = await loadRunModel(dirB, b2.runId, 'last')
    const wa = await weightList(la.model)
    const wb = await weightList(lb.model)
    expect(wa).toHaveLength(wb.length)
    wa.forEach((v, i) => expect(maxDiff(v, wb[i]), `weight ${i}`).toBeLessThan(1e-5))
    la.model.dispose()
    lb.model.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('restore_best_weights puts back the best epoch’s weights, not the last ones', async () => {
    // Validation labels are the opposite of training labels: as the model learns, val_loss rises,
    // so the best epoch is the first and the last epoch is the worst.
    const train = bandsDataset({ size: 8, perClass: { train: 12, validation: 0 } })
    const val = bandsDataset({ size: 8, perClass: { train: 0, validation: 6 }, seed: 3 })
    const valLabels = (await val.labels('validation')).map((l) => 1 - l)
    const model = tinyCnn([8, 8, 1], 2)
    const optimizer = tf.train.adam(0.05)
    const toBatch = (x: Uint8Array, shape: [number, number, number, number], labels: Int32Array): ReadyBatch => ({
      x: tf.tidy(() => applyPreprocess(tf.tensor4d(x, shape, 'int32'), RESCALE_01)),
      labels,
    })
    const perEpoch: Map<string, Float32Array>[] = []
    const fit = await fitLoop({
      model,
      optimizer,
      numClasses: 2,
      epochs: 5,
      seed: 1,
      learningRate: 0.05,
      earlyStop: { monitor: 'val_loss', patience: 10, mode: 'auto', minDelta: 0, restoreBestWeights: true },
      checkpointMonitor: 'val_loss',
      stream: {
        trainCount: 24,
        valCount: 12,
        train: async function* (epoch) {
          for await (const b of train.batches('train', { batchSize: 8, shuffle: true, seed: epoch })) yield toBatch(b.x, b.shape, b.labels)
        },
        validation: async function* () {
          for await (const b of val.batches('validation', { batchSize: 12, shuffle: false, seed: 0 })) yield toBatch(b.x, b.shape, Int32Array.from(b.ids, (i) => valLabels[i]))
        },
      },
      hooks: {
        saveBest: async () => undefined,
        saveLast: async () => undefined,
        onEpoch: async () => {
          perEpoch.push(await weightsByName(model))
        },
        emit: () => undefined,
      },
    })
    const vl = fit.state.history.map((m) => m.valLoss!)
    const bestEpoch = vl.indexOf(Math.min(...vl))
    expect(bestEpoch).toBeLessThan(4)
    expect(fit.state.checkpoint.bestEpoch).toBe(bestEpoch)
    const now = await weightsByName(model)
    for (const [k, v] of now) expect(maxDiff(v, perEpoch[bestEpoch].get(k)!), k).toBe(0)
    const changedFromLast = [...now].some(([k, v]) => maxDiff(v, perEpoch[4].get(k)!) > 1e-4)
    expect(changedFromLast).toBe(true)
    model.dispose()
    optimizer.dispose()
  })

  it('transfer trains the head on cached base features; fine-tune changes only unfrozen weights and keeps BN statistics', async () => {
    const dir = tmp()
    const data = bandsDataset({ size: 8, channels: 3 })
    const deps: TrainDeps = { data, buildTransfer: tinyTransfer, loadBaseWeights: fakePretrained }
    const before = tf.memory().numTensors
    const logs: string[] = []
    const t = await runTraining(dir, { recipe: 'transfer', epochs: 2, batchSize: 8, seed: 3 }, { deps, onEvent: (e) => e.type === 'log' && logs.push(e.message) })
    expect(logs.join('\n')).toMatch(/cached base features/)
    const caches = readdirSync(join(dir, 'cache')).filter((d) => d.startsWith('features-'))
    expect(caches).toHaveLength(1)
    expect(existsSync(join(dir, 'cache', caches[0], 'train.f32'))).toBe(true)

    // A second transfer run reuses the cache.
    const logs2: string[] = []
    await runTraining(dir, { recipe: 'transfer', epochs: 1, batchSize: 8, seed: 3 }, { deps, onEvent: (e) => e.type === 'log' && logs2.push(e.message) })
    expect(logs2.join('\n')).toMatch(/Using cached base features/)

    const transferModel = await loadRunModel(dir, t.runId)
    const w0 = await weightsByName(transferModel.model)
    transferModel.model.dispose()
    // The transfer run left the base exactly as pretrained (BN statistics included).
    expect(w0.get('block_1_bn/moving_mean')![0]).toBeCloseTo(-0.3, 6)
    expect(w0.get('block_2_bn/moving_variance')![0]).toBeCloseTo(2.5, 6)

    const ft = await runTraining(dir, { recipe: 'finetune', fromRunId: t.runId, fineTuneFrom: 'block_2', epochs: 2, batchSize: 8, learningRate: 1e-2, optimizer: 'adam', seed: 3 }, { deps })
    expect(ft.epochs).toHaveLength(2)
    const ftModel = await loadRunModel(dir, ft.runId, 'last')
    const w1 = await weightsByName(ftModel.model)
    ftModel.model.dispose()
    const changed = (k: string) => maxDiff(w0.get(k)!, w1.get(k)!) > 1e-6
    // BN moving statistics: unchanged everywhere (inference mode), frozen block_1: unchanged.
    for (const k of ['block_1_bn/moving_mean', 'block_1_bn/moving_variance', 'block_2_bn/moving_mean', 'block_2_bn/moving_variance']) expect(changed(k), k).toBe(false)
    for (const k of ['block_1_conv/kernel', 'block_1_bn/gamma', 'block_1_bn/beta']) expect(changed(k), k).toBe(false)
    // Unfrozen block_2 and the head: trained.
    for (const k of ['block_2_conv/kernel', 'block_2_bn/gamma', 'dense/kernel']) expect(changed(k), k).toBe(true)
    expect(tf.memory().numTensors).toBe(before)
  })

  it('fine-tuning with the frozen bottom split off trains the same weights as training the whole model', async () => {
    const dir = tmp()
    const data = bandsDataset({ size: 8, channels: 3 })
    const deps: TrainDeps = { data, buildTransfer: (b, o) => tinyTransfer(b, o, 0), loadBaseWeights: fakePretrained }
    const before = tf.memory().numTensors
    const t = await runTraining(dir, { recipe: 'transfer', epochs: 1, batchSize: 8, seed: 3 }, { deps })
    const ftOpts = { recipe: 'finetune' as const, fromRunId: t.runId, fineTuneFrom: 'block_2', epochs: 2, batchSize: 8, learningRate: 1e-2, optimizer: 'adam' as const, augment: 'flip', seed: 3 }
    const logs: string[] = []
    const split = await runTraining(dir, ftOpts, { deps, onEvent: (e) => e.type === 'log' && logs.push(e.message) })
    expect(logs.join('\n')).toMatch(/Frozen bottom \(input to block_1_relu, activations 8x8x4\) runs forward-only/)
    expect(tf.memory().numTensors).toBe(before)
    const whole = await runTraining(dir, { ...ftOpts, frozenSplit: false }, { deps })
    const a = await loadRunModel(dir, split.runId, 'last')
    const b = await loadRunModel(dir, whole.runId, 'last')
    const [wa, wb] = [await weightsByName(a.model), await weightsByName(b.model)]
    a.model.dispose()
    b.model.dispose()
    expect([...wa.keys()].sort()).toEqual([...wb.keys()].sort())
    // onnxruntime runs the bottom (matching TF.js to 1e-4), so the two runs agree to float noise.
    for (const [k, v] of wa) expect(maxDiff(v, wb.get(k)!), k).toBeLessThan(2e-3)
    expect(maxDiff(wa.get('block_2_conv/kernel')!, (await weightsByName((await loadRunModel(dir, t.runId)).model)).get('block_2_conv/kernel')!)).toBeGreaterThan(1e-3)
    split.epochs.forEach((e, i) => expect(e.loss).toBeCloseTo(whole.epochs[i].loss, 3))
  })
})
