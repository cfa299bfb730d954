/**
 * The frozen-bottom split (frozen-split.ts) must be an execution plan, not an approximation:
 * top(bottom(x)) equals the full model, the trainable weights are the same tensors, and their
 * gradients agree, on a real MobileNetV2 graph with residual blocks.
 */
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildTransferModel } from '../../src/main/ml/models'
import { findCut, splitAtFrozenBottom } from '../../src/main/ml/training/frozen-split'
import { fineTuneStartIndex, freezeBase, unfreezeTop } from '../../src/main/ml/training/recipes'
import { mulberry32 } from '../../src/main/ml/training/rng'

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0])

function images(n: number, size: number): tf.Tensor4D {
  const r = mulberry32(3)
  return tf.tensor4d(Float32Array.from({ length: n * size * size * 3 }, () => r() * 2 - 1), [n, size, size, 3])
}

describe('frozen-bottom split', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu')
  })

  it('fine-tuning MobileNetV2 from block_11_expand_relu cuts at block_10 (the residual block 11 needs its input) and is the same function with the same gradients', () => {
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 3, alpha: 0.35 })
    const start = fineTuneStartIndex(t.base, 'block_11_expand_relu')
    unfreezeTop(t.base, start)
    const split = splitAtFrozenBottom(t.model, t.base)!
    expect(split.cutLayer).toBe('block_10_project_BN')
    expect(split.cutShape.slice(0, 2)).toEqual([6, 6])
    // Same trainable variables, in the same order.
    expect(split.top.trainableWeights.map((w) => w.name)).toEqual(t.model.trainableWeights.map((w) => w.name))
    expect(split.top.trainableWeights.some((w) => w.name.includes('block_11_expand/'))).toBe(false)

    const x = images(4, 96)
    const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3)
    const full = t.model.predict(x) as tf.Tensor
    const acts = split.bottom.predict(x) as tf.Tensor
    const viaSplit = split.top.predict(acts) as tf.Tensor
    expect(maxAbsDiff(full, viaSplit)).toBeLessThan(1e-5)

    const vars = t.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
    const loss = (m: tf.LayersModel, input: tf.Tensor) => () => tf.losses.softmaxCrossEntropy(labels, tf.log((m.apply(input, { training: false }) as tf.Tensor).add(1e-7))) as tf.Scalar
    const gFull = tf.variableGrads(loss(t.model, x), vars)
    const gSplit = tf.variableGrads(loss(split.top, acts), vars)
    expect(Object.keys(gSplit.grads).sort()).toEqual(Object.keys(gFull.grads).sort())
    for (const k of Object.keys(gFull.grads)) {
      const scale = Math.max(1e-3, gFull.grads[k].abs().max().dataSync()[0])
      expect(maxAbsDiff(gFull.grads[k], gSplit.grads[k]) / scale).toBeLessThan(1e-4)
    }
    tf.dispose([x, labels, full, acts, viaSplit, gFull.value, gSplit.value, ...Object.values(gFull.grads), ...Object.values(gSplit.grads)])
    t.model.dispose()
  })

  it('a frozen base (transfer learning) is all bottom: the top is the pooling and the head', () => {
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2, alpha: 0.35 })
    freezeBase(t.base)
    const g = t.base.layers.filter((l) => l.getClassName() !== 'InputLayer')
    expect(findCut(t.base)).toBe(g.length - 1)
    const split = splitAtFrozenBottom(t.model, t.base)!
    expect(split.cutLayer).toBe(g[g.length - 1].name)
    expect(split.top.trainableWeights.map((w) => w.name)).toEqual(t.model.trainableWeights.map((w) => w.name))
    expect(split.top.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'GlobalAveragePooling2D', 'Dropout', 'Dense'])
    const x = images(2, 96)
    const a = t.model.predict(x) as tf.Tensor
    const b = split.top.predict(split.bottom.predict(x) as tf.Tensor) as tf.Tensor
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6)
    tf.dispose([x, a, b])
    t.model.dispose()
  })

  it('nothing to split when the whole base trains', () => {
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2, alpha: 0.35 })
    unfreezeTop(t.base, 0)
    expect(findCut(t.base)).toBe(-1)
    expect(splitAtFrozenBottom(t.model, t.base)).toBeNull()
    t.model.dispose()
  })
})
