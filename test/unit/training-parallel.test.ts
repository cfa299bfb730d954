import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { crossEntropy } from '../../src/main/ml/training/loop'
import { ParallelStep, sliceSizes } from '../../src/main/ml/training/parallel-step'
import { mulberry32 } from '../../src/main/ml/training/rng'
import { trainingThreads } from '../../src/main/ml/training/threads'

const CLASSES = 3

function smallCnn(bn: boolean): tf.LayersModel {
  const layers: tf.layers.Layer[] = [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })]
  if (bn) layers.push(tf.layers.batchNormalization({ momentum: 0.9 }))
  layers.push(tf.layers.maxPooling2d({ poolSize: 2 }), tf.layers.flatten(), tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }))
  return tf.sequential({ layers })
}

function batch(n: number): { x: tf.Tensor4D; labels: Int32Array } {
  const r = mulberry32(7)
  return { x: tf.tensor4d(Float32Array.from({ length: n * 64 }, () => r()), [n, 8, 8, 1]), labels: Int32Array.from({ length: n }, (_, i) => i % CLASSES) }
}

/** The single-thread step of the training loop on the whole batch. */
function fullBatchStep(model: tf.LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, labels: Int32Array): number {
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
  return tf.tidy(() => {
    const y = tf.tensor1d(labels, 'int32')
    const cost = optimizer.minimize(() => crossEntropy(model.apply(x, { training: true }) as tf.Tensor, y, CLASSES), true, vars)!
    return cost.dataSync()[0]!
  })
}

function maxDiff(a: tf.Tensor[], b: tf.Tensor[]): number {
  return Math.max(...a.map((t, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(t, b[i]!))).dataSync()[0]!)))
}

describe('data-parallel training step (worker_threads, wasm)', () => {
  let open: ParallelStep[] = []
  beforeAll(async () => {
    await initBackend('wasm')
  })
  afterEach(async () => {
    await Promise.all(open.map((p) => p.close()))
    open = []
  })

  async function twin(bn: boolean, threads: number) {
    const single = smallCnn(bn)
    const parallel = smallCnn(bn)
    parallel.setWeights(single.getWeights())
    const p = await ParallelStep.start({ model: parallel, threads, numClasses: CLASSES })
    open.push(p)
    return { single, parallel, p }
  }

  it('trains on every core on wasm unless told otherwise, and on one thread on the native backends', () => {
    expect(trainingThreads('wasm', undefined, 8).threads).toBe(8)
    expect(trainingThreads('wasm', 3, 8).threads).toBe(3)
    expect(trainingThreads('tensorflow', 4, 8)).toMatchObject({ threads: 1, reason: expect.stringContaining('every core') })
    expect(trainingThreads('cpu', undefined, 8).threads).toBe(1)
  })

  it('cuts a batch into near-equal slices', () => {
    expect(sliceSizes(9, 2)).toEqual([5, 4])
    expect(sliceSizes(10, 3)).toEqual([4, 3, 3])
    expect(sliceSizes(1, 4)).toEqual([1])
  })

  it('equals the single-thread full-batch step within 1e-5 (no BN, no dropout), on uneven slices, without leaking tensors', async () => {
    const { single, parallel, p } = await twin(false, 3)
    const { x, labels } = batch(10)
    const sgdA = tf.train.sgd(0.5)
    const sgdB = tf.train.sgd(0.5)
    const before = tf.memory().numTensors
    for (let s = 0; s < 2; s++) {
      const lossA = fullBatchStep(single, sgdA, x, labels)
      const r = await p.step(sgdB, x, labels, () => [])
      expect(Math.abs(r.loss - lossA)).toBeLessThan(1e-5)
    }
    // A last batch smaller than the thread count: the idle thread's stale gradient is not used.
    const small = batch(2)
    fullBatchStep(single, sgdA, small.x, small.labels)
    await p.step(sgdB, small.x, small.labels, () => [])
    small.x.dispose()
    p.flush()
    expect(tf.memory().numTensors).toBe(before)
    expect(maxDiff(single.getWeights(), parallel.getWeights())).toBeLessThan(1e-5)
    expect(maxDiff(single.getWeights(), smallCnn(false).getWeights())).toBeGreaterThan(1e-3)
    x.dispose()
    sgdA.dispose()
    sgdB.dispose()
    single.dispose()
    parallel.dispose()
  })

  it('steps with Adam, RMSprop and SGD as tfjs does: weights and optimizer state within 1e-5 over steps with a flush between', async () => {
    const { x, labels } = batch(12)
    // RMSprop on 3 threads: the kernel's gradient is summed over more than two slices first.
    const make: [() => tf.Optimizer, number][] = [[() => tf.train.adam(0.01, 0.9, 0.999, 1e-7), 2], [() => tf.train.rmsprop(0.01, 0.9, 0.5, 1e-7), 3], [() => tf.train.sgd(0.2), 2]]
    for (const [opt, threads] of make) {
      const { single, parallel, p } = await twin(false, threads)
      const [a, b] = [opt(), opt()]
      for (let s = 0; s < 4; s++) {
        fullBatchStep(single, a, x, labels)
        await p.step(b, x, labels, () => [])
        // A flush mid-way (as at an epoch's end) hands the state to tfjs and back.
        if (s === 1) p.flush()
      }
      // The model's variables keep the epoch's start until the flush.
      expect(maxDiff(single.getWeights(), parallel.getWeights())).toBeGreaterThan(1e-4)
      p.flush()
      expect(maxDiff(single.getWeights(), parallel.getWeights())).toBeLessThan(1e-5)
      const [sa, sb] = [await a.getWeights(), await b.getWeights()]
      // Same slots in the same order (the twins' layer names differ only by their number).
      const slot = (n: string) => n.replace(/\d+\//, '/')
      expect(sb.map((w) => slot(w.name))).toEqual(sa.map((w) => slot(w.name)))
      expect(maxDiff(sa.map((w) => w.tensor), sb.map((w) => w.tensor))).toBeLessThan(1e-5)
      expect(b.iterations).toBe(4)
      // Adam's beta powers exactly as tfjs's float32 products (a resume must continue them bit for bit).
      const powers = (o: tf.Optimizer) => ['accBeta1', 'accBeta2'].map((k) => (o as unknown as Record<string, tf.Variable | undefined>)[k]?.dataSync()[0])
      expect(powers(b)).toEqual(powers(a))
      tf.dispose([...sa.map((w) => w.tensor), ...sb.map((w) => w.tensor)])
      a.dispose()
      b.dispose()
      single.dispose()
      parallel.dispose()
    }
    x.dispose()
  })

  it('with BatchNormalization: weights within 2e-3 of the full-batch step, pooled moving statistics within 1e-5', async () => {
    const { single, parallel, p } = await twin(true, 2)
    const { x, labels } = batch(16)
    const sgdA = tf.train.sgd(0.1)
    const sgdB = tf.train.sgd(0.1)
    fullBatchStep(single, sgdA, x, labels)
    await p.step(sgdB, x, labels, () => [])
    p.flush()
    const moving = (m: tf.LayersModel) => m.nonTrainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
    const weights = (m: tf.LayersModel) => m.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
    // Each slice is normalised with its own statistics (as DDP), so the gradients differ a little.
    const dw = maxDiff(weights(single), weights(parallel))
    expect(dw).toBeGreaterThan(0)
    expect(dw).toBeLessThan(2e-3)
    expect(maxDiff(moving(single), moving(parallel))).toBeLessThan(1e-5)
    x.dispose()
    sgdA.dispose()
    sgdB.dispose()
    single.dispose()
    parallel.dispose()
  })

  it('runs every slice on its own thread', async () => {
    const { single, parallel, p } = await twin(false, 2)
    const { x, labels } = batch(8)
    await p.step(tf.train.sgd(0.1), x, labels, () => [])
    const report = p.report()
    expect(report).toHaveLength(2)
    expect(new Set(report.map((r) => r.threadId)).size).toBe(2)
    expect(report.every((r) => r.threadId > 0 && r.slices === 1)).toBe(true)
    tf.dispose(x)
    single.dispose()
    parallel.dispose()
  })

  it('fails the step with a message naming the thread when a worker dies', async () => {
    const { single, parallel, p } = await twin(false, 2)
    const { x, labels } = batch(8)
    await p.workers[1]!.terminate()
    await expect(p.step(tf.train.sgd(0.1), x, labels, () => [])).rejects.toThrow(/Training thread 2 of 2 \(worker thread id \d+\) exited with code 1/)
    tf.dispose(x)
    single.dispose()
    parallel.dispose()
  })
})
