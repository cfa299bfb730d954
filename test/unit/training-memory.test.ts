import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { buildCnn, buildTransferModel, CNN_PRESETS } from '../../src/main/ml/models'
import { wasmBatchCap } from '../../src/main/ml/training/batch-stream'

describe('wasm batch cap (a training step must fit the 4 GiB wasm heap)', () => {
  it('caps MobileNetV2 fine-tuning at 160 px below the batch that overflowed (32) and keeps small CNNs uncapped', async () => {
    await tf.setBackend('cpu')
    const t = buildTransferModel('mobilenetv2', { inputShape: [160, 160, 3], numClasses: 2 })
    const cap160 = wasmBatchCap(t.model)
    // Measured: batch 32 fails ("memory access out of bounds"), batch 16 fits; the cap must be safe.
    expect(cap160).toBeLessThan(32)
    expect(cap160).toBeGreaterThanOrEqual(8)
    t.model.dispose()
    const small = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2 })
    expect(wasmBatchCap(small.model)).toBeGreaterThanOrEqual(32) // measured: batch 32 at 96 px trains
    small.model.dispose()
    const cnn = buildCnn(CNN_PRESETS['fashion-mnist-cnn'].layers, { inputShape: [28, 28, 1], numClasses: 10 })
    expect(wasmBatchCap(cnn)).toBeGreaterThan(1000)
    cnn.dispose()
  })
})
