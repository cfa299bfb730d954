import * as tf from '@tensorflow/tfjs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { loadOptimizerWeights, writeCheckpoint } from '../../src/main/ml/training/checkpoint'

const dir = mkdtempSync(join(tmpdir(), 'cs-ckopt-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
beforeAll(async () => {
  await initBackend('wasm')
})

describe('optimizer state through a checkpoint', () => {
  it("Adam continues bit for bit after a restore: its beta powers are tfjs's step-by-step products, not the backend's pow", async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: 'ones' })] })
    const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
    const x = tf.tensor2d([[1, 2, 3], [0.5, -1, 2]])
    const step = (o: tf.Optimizer) => o.minimize(() => tf.sum(tf.square(model.apply(x) as tf.Tensor)) as tf.Scalar, false, vars)
    const powers = (o: tf.Optimizer) => ['accBeta1', 'accBeta2'].map((k) => (o as unknown as Record<string, tf.Variable>)[k]!.dataSync()[0])
    // On wasm pow(0.9, 9) is one ulp away from 0.9 multiplied eight times in float32.
    const a = tf.train.adam(0.01)
    for (let s = 0; s < 8; s++) step(a)
    await writeCheckpoint(dir, 'last', { model, optimizer: a, optimizerVariables: vars.map((v) => v.name) })
    const b = tf.train.adam(0.01)
    expect(await loadOptimizerWeights(join(dir, 'last'), b, vars.map((v) => v.name))).toEqual({ restored: true })
    expect(b.iterations).toBe(8)
    expect(powers(b)).toEqual(powers(a))
    const w0 = model.getWeights().map((w) => w.clone())
    step(a)
    const wa = model.getWeights().map((w) => w.dataSync().slice())
    model.setWeights(w0)
    step(b)
    expect(model.getWeights().map((w) => w.dataSync().slice())).toEqual(wa)
    tf.dispose([x, ...w0])
    model.dispose()
  })
})
