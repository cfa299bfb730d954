import * as tf from '@tensorflow/tfjs'
import * as ort from 'onnxruntime-node'
import { mkdtemp } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { exportModel, defaultExportDeps, type ExportRun } from '../../src/main/services/export'
import { applyTemperature } from '../../src/main/services/calibration/temperature'
import { foldTemperature } from '../../src/main/ml/export/temperature'
import { loadTfjsModelDir } from '../../src/main/ml/export/tfjs'
import { loadKerasH5Model } from '../../src/main/ml/export/h5'
import { RESCALE_01 } from '../../src/main/ml/models/preprocess'
import { fashionCnn, randomImages, randomizeBiases } from './export-fixtures'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const T = 2.5
const LABELS = Array.from({ length: 10 }, (_, i) => `class ${i}`)
const N = 8
const { u8, shape } = randomImages(N, 28, 1, 11)

function model(): tf.LayersModel {
  const m = fashionCnn()
  randomizeBiases(m)
  const d = m.getLayer('dense_1')
  d.setWeights([tf.mul(d.getWeights()[0], 8), d.getWeights()[1]]) // confident, so T visibly changes the probabilities
  return m
}

/** The app's probabilities: the unfolded model on x / 255, then predict's temperature. */
function appCalibrated(m: tf.LayersModel): Float32Array {
  const raw = tf.tidy(() => (m.predict(tf.div(tf.tensor4d(u8, shape, 'float32'), 255)) as tf.Tensor).dataSync() as Float32Array)
  return applyTemperature(raw, 10, T)
}

async function exportedProbs(format: 'tfjs' | 'h5' | 'onnx', dir: string): Promise<Float32Array> {
  if (format === 'onnx') {
    const s = await ort.InferenceSession.create(join(dir, 'model.onnx'))
    const out = await s.run({ input: new ort.Tensor('float32', Float32Array.from(u8), shape) })
    await s.release()
    return out.probabilities.data as Float32Array
  }
  const m = format === 'tfjs' ? await loadTfjsModelDir(dir) : await loadKerasH5Model(join(dir, 'model.h5'))
  const y = tf.tidy(() => (m.predict(tf.div(tf.tensor4d(u8, shape, 'float32'), 255)) as tf.Tensor).dataSync() as Float32Array)
  m.dispose()
  return y
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])))

describe('export with a fitted temperature', () => {
  it('folding T into the last Dense gives softmax(log p / T), and the restore puts the weights back', () => {
    const m = model()
    const want = appCalibrated(m)
    const before = m.getLayer('dense_1').getWeights().map((w) => w.dataSync().slice())
    const restore = foldTemperature(m, T)
    const folded = tf.tidy(() => (m.predict(tf.div(tf.tensor4d(u8, shape, 'float32'), 255)) as tf.Tensor).dataSync() as Float32Array)
    expect(maxDiff(folded, want)).toBeLessThan(1e-6)
    restore()
    m.getLayer('dense_1').getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[i])))
    m.dispose()
  })

  it.each(['onnx', 'tfjs', 'h5'] as const)('%s: the export reproduces the calibrated probabilities (parity <= 1e-4, T in parity.json)', async (format) => {
    const m = model()
    const want = appCalibrated(m)
    const uncalibrated = applyTemperature(want, 10, 1 / T)
    const golden = { ids: Int32Array.from({ length: N }, (_, i) => i), labels: new Int32Array(N), x: u8, shape, source: 'test images' }
    const run: ExportRun = { model: m, labels: LABELS, preprocess: RESCALE_01, settings: { inputSize: 28, resizeMode: 'squash', background: '#000000', channels: 1 }, runId: 'run-t', temperature: T }
    const out = join(await mkdtemp(join(tmpdir(), 'export-cal-')), format)
    const r = await exportModel('/unused', { format, out }, {}, { ...defaultExportDeps, loadRun: async () => run, goldenSet: async () => golden })
    expect(r.parity).toMatchObject({ passed: true, temperature: T, labelAgreement: 1 })
    expect(r.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8')).temperature).toBe(T)
    const got = await exportedProbs(format, out)
    expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-4)
    // The model's weights are random (unseeded): how far T moves them varies, so the check is relative.
    const moved = maxDiff(want, uncalibrated)
    expect(moved).toBeGreaterThan(0.01)
    expect(maxDiff(got, uncalibrated)).toBeGreaterThan(0.9 * moved)
  })
})
