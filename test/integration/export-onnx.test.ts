import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import * as tf from '@tensorflow/tfjs'
import * as ort from 'onnxruntime-node'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { layersModelToOnnx } from '../../src/main/ml/export/onnx'
import { applyPreprocess } from '../../src/main/ml/models/preprocess'
import type { PreprocessSpec } from '../../src/shared/models'
import { randomImages, randomizeBatchNorm, randomizeBiases } from './export-fixtures'
import { buildModel, buildTransferModel } from '../../src/main/ml/models/transfer'
import { presetSpec } from '../../src/main/ml/models/resolve'
import { preprocessFor, RESCALE_01 } from '../../src/main/ml/models/preprocess'
import { loadNsfwjsMobileNetV2Weights } from '../../src/main/ml/weights/nsfwjs'
import { decodeForModel } from '../../src/main/services/datasets'
import { mulberry32 } from '../../src/main/ml/training/rng'
import { PY, pythonLacks } from '../helpers/python'

/** The shared test data (see /work/shared/data/README.md); the real-photo test is skipped without it. */
const DATA = process.env.CLASSIFIER_STUDIO_DATA ?? resolve(__dirname, '../../../shared/data')

const unseeded = Math.random
beforeAll(async () => {
  await tf.setBackend('cpu')
  // Seeded weight initialisation (TF.js draws it from Math.random): unseeded random weights
  // sometimes give near-identical outputs for every image, which compare() rightly refuses.
  Math.random = mulberry32(5)
})
afterAll(() => {
  Math.random = unseeded
})

/** App prediction (TF.js, preprocessing outside the model) vs the ONNX export in onnxruntime (preprocessing inside). */
async function compare(model: tf.LayersModel, pre: PreprocessSpec, n: number, opts: { grayToRgb?: boolean; seed?: number } = {}) {
  const [, h, w, c] = model.inputs[0].shape as number[]
  const inC = opts.grayToRgb ? 1 : c
  const { u8, shape } = randomImages(n, h, inC, opts.seed ?? 11, w)
  const before = tf.memory().numTensors
  const ex = layersModelToOnnx(model, { preprocess: pre, grayToRgb: opts.grayToRgb })
  expect(tf.memory().numTensors).toBe(before)
  const y = tf.tidy(() => model.predict(applyPreprocess(tf.tensor4d(u8, shape, 'int32'), pre, c as 1 | 3)) as tf.Tensor)
  const want = y.dataSync() as Float32Array
  y.dispose()
  expect(tf.memory().numTensors).toBe(before)
  // Not a degenerate check: the images must get different answers from the model.
  expect(Math.max(...want.map((v, i) => Math.abs(v - want[i % (want.length / n)])))).toBeGreaterThan(1e-3)
  const session = await ort.InferenceSession.create(ex.bytes)
  const out = await session.run({ [ex.inputName]: new ort.Tensor('float32', Float32Array.from(u8), shape) })
  const got = out[ex.outputName]
  expect(got.dims).toEqual([n, want.length / n])
  const data = got.data as Float32Array
  let maxAbsDiff = 0
  let agree = 0
  const k = want.length / n
  for (let i = 0; i < n; i++) {
    let a = 0
    let b = 0
    for (let j = 0; j < k; j++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(data[i * k + j] - want[i * k + j]))
      if (data[i * k + j] > data[i * k + b]) b = j
      if (want[i * k + j] > want[i * k + a]) a = j
    }
    if (a === b) agree++
  }
  if (process.env.EXPORT_REPORT) console.log(`[parity] ${model.name}: maxAbsDiff ${maxAbsDiff.toExponential(2)}, agree ${agree}/${n}`)
  return { ex, maxAbsDiff, agree, want, got: data }
}

/** Exports the checker reads (the onnx package's full check), with the input line it must print. */
const checked: { name: string; bytes: Uint8Array; want: string }[] = []

function onnxCheck(bytes: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'export-onnx-'))
  const file = join(dir, 'model.onnx')
  writeFileSync(file, bytes)
  return execFileSync(PY, ['-c', 'import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print(m.ir_version, m.opset_import[0].version, m.graph.input[0].name, [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim])', file], { encoding: 'utf8' }).trim()
}

describe('ONNX export', () => {
  it('Fashion-MNIST CNN (333,526 params) matches TF.js within 1e-4 in onnxruntime-node', async () => {
    const model = buildModel(presetSpec('fashion-mnist-cnn'), { inputShape: [28, 28, 1], numClasses: 10 })
    expect(model.countParams()).toBe(333526)
    randomizeBiases(model)
    const r = await compare(model, RESCALE_01, 8)
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.agree).toBe(8)
    expect(r.ex.inputShape).toEqual(['N', 28, 28, 1])
    expect(r.ex.ops).toEqual(expect.arrayContaining(['Conv', 'MaxPool', 'Transpose', 'Flatten', 'Gemm', 'Softmax']))
    checked.push({ name: 'Fashion-MNIST CNN', bytes: r.ex.bytes, want: "7 13 input ['N', 28, 28, 1]" })
    model.dispose()
  })

  it('Sign-language-MNIST CNN (BatchNormalization with moving statistics, MaxPooling2D same on odd sizes) matches within 1e-4', async () => {
    const model = buildModel(presetSpec('sign-mnist-cnn'), { inputShape: [28, 28, 1], numClasses: 24 })
    expect(model.countParams()).toBe(264049)
    expect(randomizeBatchNorm(model, 3, tf.randomUniform([8, 28, 28, 1], 0, 1))).toBe(3)
    randomizeBiases(model)
    const r = await compare(model, RESCALE_01, 6)
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.agree).toBe(6)
    model.dispose()
  })

  it('a Flatten after an odd-sized map keeps Keras NHWC order (a wrong transpose would change the answer)', async () => {
    const input = tf.input({ shape: [7, 5, 3] })
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6' }).apply(input) as tf.SymbolicTensor
    x = tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.flatten().apply(x) as tf.SymbolicTensor
    x = tf.layers.dense({ units: 5 }).apply(x) as tf.SymbolicTensor
    x = tf.layers.activation({ activation: 'softmax' }).apply(x) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: x })
    randomizeBiases(model)
    const r = await compare(model, { kind: 'scale', scale: 1 / 127.5, offset: -1 }, 4)
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-5)
  })

  it('BatchNormalization with non-trivial moving statistics, gray->RGB tiling and caffe preprocessing', async () => {
    const input = tf.input({ shape: [16, 16, 3] })
    let x = tf.layers.rescaling({ scale: 1 / 64, offset: 0.25 }).apply(input) as tf.SymbolicTensor
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'valid', useBias: false }).apply(x) as tf.SymbolicTensor
    x = tf.layers.batchNormalization({ epsilon: 1e-3 }).apply(x) as tf.SymbolicTensor
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor
    x = tf.layers.batchNormalization({}).apply(x) as tf.SymbolicTensor
    x = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(x) as tf.SymbolicTensor
    const model = tf.model({ inputs: input, outputs: x })
    const sample = tf.randomUniform([8, 16, 16, 3], -128, 128)
    expect(randomizeBatchNorm(model, 1, sample)).toBe(2)
    const r = await compare(model, { kind: 'caffe', mean: [103.939, 116.779, 123.68], channelOrder: 'bgr' }, 6, { grayToRgb: true })
    expect(r.ex.inputShape).toEqual(['N', 16, 16, 1])
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    // With the wrong mean folded in, the answer differs: the comparison can fail.
    const plain = layersModelToOnnx(model, { preprocess: { kind: 'caffe', mean: [0, 0, 0], channelOrder: 'bgr' }, grayToRgb: true })
    const s = await ort.InferenceSession.create(plain.bytes)
    const { u8, shape } = randomImages(6, 16, 1, 11)
    const o = (await s.run({ input: new ort.Tensor('float32', Float32Array.from(u8), shape) })).probabilities.data as Float32Array
    expect(Math.max(...o.map((v, i) => Math.abs(v - r.want[i])))).toBeGreaterThan(1e-3)
  })

  it('MobileNetV2 (alpha 0.35, 96 px) transfer model with random BN statistics matches within 1e-4', async () => {
    const { model } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 4, alpha: 0.35 })
    expect(randomizeBatchNorm(model, 5, tf.randomUniform([4, 96, 96, 3], -1, 1))).toBe(52)
    randomizeBiases(model)
    const r = await compare(model, preprocessFor('mobilenetv2'), 3)
    expect(r.ex.ops).toEqual(expect.arrayContaining(['Pad', 'Clip', 'BatchNormalization', 'Add', 'GlobalAveragePool']))
    checked.push({ name: 'MobileNetV2 0.35', bytes: r.ex.bytes, want: "7 13 input ['N', 96, 96, 3]" })
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.agree).toBe(3)
    model.dispose()
  })

  it.skipIf(!existsSync(join(DATA, 'cats-vs-dogs')))('MobileNetV2 (alpha 1.0, 96 px) with pretrained weights (nsfwjs, blocks 0-10) on real photos matches within 1e-4', async () => {
    const { model } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2, alpha: 1.0 })
    const report = loadNsfwjsMobileNetV2Weights(model)
    expect(report.loaded.length).toBeGreaterThan(30)
    const settings = { inputSize: 96, resizeMode: 'crop' as const, background: '#ffffff', channels: 3 as const }
    const dir = join(DATA, 'cats-vs-dogs/validation')
    const files = [`${dir}/cats/cat.2000.jpg`, `${dir}/cats/cat.2001.jpg`, `${dir}/dogs/dog.2000.jpg`, `${dir}/dogs/dog.2001.jpg`]
    const pixels = await Promise.all(files.map((f) => decodeForModel(f, settings)))
    const u8 = new Uint8Array(4 * 96 * 96 * 3)
    pixels.forEach((p, i) => u8.set(p, i * p.length))
    const pre = preprocessFor('mobilenetv2')
    const ex = layersModelToOnnx(model, { preprocess: pre })
    const y = tf.tidy(() => model.predict(applyPreprocess(tf.tensor4d(u8, [4, 96, 96, 3], 'int32'), pre, 3)) as tf.Tensor)
    const want = y.dataSync() as Float32Array
    y.dispose()
    const session = await ort.InferenceSession.create(ex.bytes)
    const got = (await session.run({ input: new ort.Tensor('float32', Float32Array.from(u8), [4, 96, 96, 3]) })).probabilities.data as Float32Array
    const maxAbsDiff = Math.max(...got.map((v, i) => Math.abs(v - want[i])))
    if (process.env.EXPORT_REPORT) console.log(`[parity] MobileNetV2 1.0 nsfwjs weights, real photos: maxAbsDiff ${maxAbsDiff.toExponential(2)}`)
    expect(maxAbsDiff).toBeLessThanOrEqual(1e-4)
    model.dispose()
  })

  it('VGG16 (48 px) transfer model with caffe preprocessing matches within 1e-4', async () => {
    const { model } = buildTransferModel('vgg16', { inputShape: [48, 48, 3], numClasses: 3 })
    // Random Glorot weights shrink activations layer by layer; scale the last kernel so the classes differ.
    const dense = model.getLayer('dense')
    dense.setWeights([tf.mul(dense.getWeights()[0], 30), dense.getWeights()[1]])
    expect(model.layers[1].countParams()).toBe(14714688)
    randomizeBiases(model)
    const r = await compare(model, preprocessFor('vgg16'), 2)
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.agree).toBe(2)
    model.dispose()
  })

  it.skipIf(pythonLacks('onnx'))('the Fashion CNN and MobileNetV2 exports above pass onnx.checker (full check): IR 7, opset 13, a dynamic batch', () => {
    expect(checked.map((c) => c.name)).toEqual(['Fashion-MNIST CNN', 'MobileNetV2 0.35'])
    for (const c of checked) expect(onnxCheck(c.bytes), c.name).toBe(c.want)
  })

  it('refuses an unsupported layer with a message naming it', () => {
    const input = tf.input({ shape: [8, 8, 3] })
    const x = tf.layers.conv2dTranspose({ filters: 2, kernelSize: 2 }).apply(input) as tf.SymbolicTensor
    expect(() => layersModelToOnnx(tf.model({ inputs: input, outputs: x }))).toThrow(/of type Conv2DTranspose is not supported/)
  })
})
