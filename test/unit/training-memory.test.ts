import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { buildCnn, buildTransferModel, CNN_PRESETS } from '../../src/main/ml/models'
import { wasmBatchCap } from '../../src/main/ml/training/batch-stream'
import { oneThreadBatchError } from '../../src/main/ml/training/threads'

/** A machine whose memory is not the limit, so these tests hold on any host. */
const BIG = 64 * 2 ** 30

describe('wasm batch cap (a training step must fit the 4 GiB wasm heap)', () => {
  it('caps MobileNetV2 fine-tuning at 160 px below the batch that overflowed (32) and keeps small CNNs uncapped', async () => {
    await tf.setBackend('cpu')
    const t = buildTransferModel('mobilenetv2', { inputShape: [160, 160, 3], numClasses: 2 })
    const cap160 = wasmBatchCap(t.model, 1, BIG)
    // Measured: batch 32 fails ("memory access out of bounds"), batch 16 fits; the cap must be safe.
    expect(cap160).toBeLessThan(32)
    expect(cap160).toBeGreaterThanOrEqual(8)
    t.model.dispose()
    const small = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2 })
    expect(wasmBatchCap(small.model, 1, BIG)).toBeGreaterThanOrEqual(32) // measured: batch 32 at 96 px trains
    small.model.dispose()
    const cnn = buildCnn(CNN_PRESETS['fashion-mnist-cnn'].layers, { inputShape: [28, 28, 1], numClasses: 10 })
    expect(wasmBatchCap(cnn, 1, BIG)).toBeGreaterThan(1000)
    cnn.dispose()
  })

  it('gives each training thread its own wasm memory for its slice, within half of the machine memory', async () => {
    await tf.setBackend('cpu')
    const t = buildTransferModel('mobilenetv2', { inputShape: [160, 160, 3], numClasses: 2 })
    const one = wasmBatchCap(t.model, 1, BIG)
    // Two threads: each steps half the batch in its own 4 GiB memory, so the cap doubles.
    expect(wasmBatchCap(t.model, 2, BIG)).toBe(2 * one)
    expect(wasmBatchCap(t.model, 2, BIG)).toBeGreaterThanOrEqual(16)
    // 8 threads on an 8 GiB laptop: together at most 4 GiB of activations, not 8 x 3.5 GiB.
    const laptop = wasmBatchCap(t.model, 8, 8 * 2 ** 30)
    expect(laptop % 8).toBe(0)
    expect(laptop / 8).toBeLessThanOrEqual(Math.ceil(one / 7))
    t.model.dispose()
  })

  it('fails plainly when threads could not start and the batch sized for them does not fit one', () => {
    expect(oneThreadBatchError(2, 14, 14)).toBeNull()
    const e = oneThreadBatchError(2, 28, 14)!
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toMatch(/2 training threads could not start, and batch 28 .*one thread.*\(at most 14\)/)
    expect(e.hint).toMatch(/--threads 1 .* --batch 14/)
  })
})
