import { describe, it, expect, beforeAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { kerasLayerWeights, loadKerasH5Model, writeKerasH5 } from '../../src/main/ml/export/h5'
import { buildTransferModel } from '../../src/main/ml/models/transfer'
import { pythonLacks } from '../helpers/python'
import { fashionCnn, randomImages, randomizeBatchNorm, randomizeBiases } from './export-fixtures'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

interface Layout {
  keras_version: string
  backend: string
  model_config: { class_name: string; layers: string[]; layer_classes: string[] }
  layer_names: string[]
  layer_names_dtype: string
  weight_names: Record<string, string[]>
  shapes: Record<string, number[]>
  missing: string[]
  weights_equal: boolean
  max_abs_diff: number
  compared: number
}

/** Writes the model's weights (Keras names) as a reference for h5_check.py, then runs it. */
function h5Check(model: tf.LayersModel, file: string): Layout {
  const dir = mkdtempSync(join(tmpdir(), 'export-h5-ref-'))
  const manifest: Record<string, { shape: number[]; offset: number }> = {}
  const chunks: Float32Array[] = []
  let offset = 0
  for (const layer of model.layers)
    for (const w of kerasLayerWeights(layer)) {
      const data = w.variable.read().dataSync() as Float32Array
      manifest[w.name] = { shape: w.variable.shape as number[], offset }
      chunks.push(data)
      offset += data.length
    }
  const all = new Float32Array(offset)
  let o = 0
  for (const c of chunks) {
    all.set(c, o)
    o += c.length
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest))
  writeFileSync(join(dir, 'weights.bin'), new Uint8Array(all.buffer))
  return JSON.parse(execFileSync('/usr/bin/python3', ['scripts/golden/h5_check.py', file, dir], { encoding: 'utf8' }))
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])
}

describe.skipIf(pythonLacks('h5py', 'numpy'))('Keras .h5 export', () => {
  it('Fashion CNN: h5py sees Keras layout and identical weights; our loader rebuilds it and predicts the same', async () => {
    const model = fashionCnn()
    randomizeBiases(model)
    const file = join(mkdtempSync(join(tmpdir(), 'export-h5-')), 'model.h5')
    const written = await writeKerasH5(model, file)
    expect(written).toEqual({ layers: 8, weights: 8 })
    const layout = h5Check(model, file)
    expect(layout.backend).toBe('tensorflow')
    expect(layout.keras_version).toMatch(/^2\./)
    expect(layout.model_config.class_name).toBe('Sequential')
    expect(layout.model_config.layer_classes).toEqual(['Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dropout', 'Dense'])
    expect(layout.layer_names).toEqual(model.layers.map((l) => l.name))
    expect(layout.layer_names_dtype).toMatch(/^\|S\d+$/) // fixed-length bytes, as numpy writes Keras's list
    expect(layout.weight_names['conv2d']).toEqual(['conv2d/kernel:0', 'conv2d/bias:0'])
    expect(layout.weight_names['dropout']).toEqual([])
    expect(layout.shapes['conv2d_1/conv2d_1/kernel:0']).toEqual([3, 3, 32, 64])
    expect(layout.shapes['dense/dense/kernel:0']).toEqual([3136, 100])
    expect(layout.missing).toEqual([])
    expect(layout.compared).toBe(8)
    expect(layout.weights_equal).toBe(true)

    const back = await loadKerasH5Model(file)
    const { u8, shape } = randomImages(4, 28, 1)
    const x = tf.tidy(() => tf.div(tf.tensor4d(u8, shape, 'int32'), 255))
    const a = model.predict(x) as tf.Tensor
    const b = back.predict(x) as tf.Tensor
    expect(maxDiff(a, b)).toBe(0)
    tf.dispose([x, a, b])
    back.dispose()
    model.dispose()
  })

  it('MobileNetV2 transfer model (nested base, frozen, BN statistics): Keras layout, round trip predicts the same', async () => {
    const { model } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 3, alpha: 0.35 })
    const sample = tf.randomUniform([4, 96, 96, 3], -1, 1)
    randomizeBatchNorm(model, 9, sample)
    randomizeBiases(model)
    const base = model.layers.find((l) => l instanceof tf.LayersModel) as tf.LayersModel
    base.trainable = false
    const file = join(mkdtempSync(join(tmpdir(), 'export-h5-')), 'model.h5')
    await writeKerasH5(model, file)
    const layout = h5Check(model, file)
    expect(layout.model_config.class_name).toBe('Functional')
    expect(layout.model_config.layer_classes).toEqual(['InputLayer', 'Functional', 'GlobalAveragePooling2D', 'Dropout', 'Dense'])
    const baseNames = layout.weight_names[base.name]
    // Keras: all weights of the nested base in its group, named by sublayer; 52 BN layers x 4 + 52 convolutions (no biases).
    expect(baseNames.length).toBe(52 * 4 + 52)
    expect(baseNames[0]).toBe('Conv1/kernel:0')
    expect(baseNames).toContain('block_16_project_BN/moving_variance:0')
    expect(layout.shapes[`${base.name}/Conv1/kernel:0`]).toEqual([3, 3, 3, 16])
    expect(layout.weights_equal).toBe(true)
    expect(layout.missing).toEqual([])

    const back = await loadKerasH5Model(file)
    expect(back.countParams()).toBe(model.countParams())
    const a = model.predict(sample) as tf.Tensor
    const b = back.predict(sample) as tf.Tensor
    expect(maxDiff(a, b)).toBe(0)
    // The check can fail: a model with other weights predicts differently.
    const { model: other } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 3, alpha: 0.35 })
    const c = other.predict(sample) as tf.Tensor
    expect(maxDiff(a, c)).toBeGreaterThan(1e-3)
    tf.dispose([sample, a, b, c])
  })
})
