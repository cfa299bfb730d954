import * as tf from '@tensorflow/tfjs'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { crossEntropy } from '../../src/main/ml/training/loop'
import { TrainOptions } from '../../src/shared/training'

/** Golden values from PyTorch's cross_entropy(label_smoothing=s): scripts/golden/label_smoothing.py. */
const golden = JSON.parse(readFileSync(join(__dirname, '../fixtures/label-smoothing.json'), 'utf8')) as {
  cases: { probs: number[][]; labels: number[]; classes: number; labelSmoothing: number; loss: number }[]
}

describe('training loss: categorical cross-entropy with label smoothing (Keras label_smoothing)', () => {
  it.each(golden.cases.map((c) => [c.classes, c.labelSmoothing, c] as const))('matches PyTorch for %i classes, smoothing %f', async (_k, s, c) => {
    const probs = tf.tensor2d(c.probs)
    const labels = tf.tensor1d(c.labels, 'int32')
    const loss = crossEntropy(probs, labels, c.classes, null, s)
    expect((await loss.data())[0]).toBeCloseTo(c.loss, 5)
    tf.dispose([probs, labels, loss])
  })

  it('smoothing raises the loss of a confident correct prediction and is off by default', async () => {
    const probs = tf.tensor2d([[0.98, 0.01, 0.01]])
    const labels = tf.tensor1d([0], 'int32')
    const losses = [crossEntropy(probs, labels, 3), crossEntropy(probs, labels, 3, null, 0.1)]
    const [plain, smooth] = await Promise.all(losses.map((l) => l.data()))
    expect(plain[0]).toBeCloseTo(-Math.log(0.98), 6)
    expect(smooth[0]).toBeGreaterThan(plain[0] + 0.2)
    tf.dispose([probs, labels, ...losses])
  })

  it('is a training option: default 0 (off), a fraction 0..1, out of range refused', () => {
    expect(TrainOptions.parse({}).labelSmoothing).toBe(0)
    expect(TrainOptions.parse({ labelSmoothing: 0.1 }).labelSmoothing).toBe(0.1)
    expect(() => TrainOptions.parse({ labelSmoothing: 1.5 })).toThrow(/labelSmoothing is a fraction/)
  })
})
