import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { applyPreprocess, buildCnn, buildMobileNetV2, buildTransferModel, buildVgg16, preprocessFor } from '../../src/main/ml/models'
import { findNsfwjsMobileNetDir, loadKerasH5Weights, loadNsfwjsMobileNetV2Weights, loadTfjsLayersWeights, loadWeightsFromSource, readNsfwjsMobileNetV2 } from '../../src/main/ml/weights'
import { AppError } from '../../src/shared/errors'
import { PY, pythonLacks } from '../helpers/python'

const DATA = '/work/shared/data/cats-vs-dogs'
let tmp: string
let vggWhyNot = ''

beforeAll(async () => {
  await tf.setBackend('cpu')
  tmp = mkdtempSync(join(tmpdir(), 'models-weights-'))
  if (pythonLacks('torch', 'torchvision', 'h5py')) return
  try {
    execFileSync(PY, ['scripts/golden/vgg16_h5.py', tmp, '--size', '64', '--n', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (e) {
    vggWhyNot = `scripts/golden/vgg16_h5.py could not run (python3-torch/torchvision/h5py missing?): ${(e as Error).message.split('\n')[0]}`
  }
})
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])

/** Real images decoded with sharp to NHWC uint8 (squash resize, as the app's default). */
async function loadImages(files: string[], size: number): Promise<tf.Tensor4D> {
  const bufs = await Promise.all(files.map((f) => sharp(f).rotate().removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'fill' }).raw().toBuffer()))
  return tf.tensor4d(new Int32Array(Buffer.concat(bufs)), [files.length, size, size, 3], 'int32')
}

describe.skipIf(pythonLacks('torch', 'torchvision', 'h5py'))('Keras .h5 weights (VGG16, PyTorch reference)', () => {
  it('our VGG16 loaded from the Keras-layout .h5 matches torch outputs (<= 1e-4)', async () => {
    expect(vggWhyNot).toBe('')
    const ref = JSON.parse(readFileSync(join(tmp, 'vgg16_reference.json'), 'utf8')) as { size: number; n: number; input: number[]; outputShape: number[]; output: number[] }
    const model = buildVgg16({ inputSize: ref.size })
    const report = await loadKerasH5Weights(model, join(tmp, 'vgg16_notop_random.h5'), { strict: true })
    expect(report.loaded).toHaveLength(13)
    expect(report.missing).toEqual([])
    expect(report.mismatched).toEqual([])
    expect(report.extra).toEqual([])
    const before = tf.memory().numTensors
    const x = tf.tensor4d(new Int32Array(ref.input), [ref.n, ref.size, ref.size, 3], 'int32')
    const xp = applyPreprocess(x, preprocessFor('vgg16'))
    const y = model.predict(xp) as tf.Tensor
    expect(y.shape).toEqual(ref.outputShape)
    const expected = tf.tensor(ref.output, ref.outputShape)
    const diff = maxAbsDiff(y, expected)
    console.log(`VGG16 ${ref.size}px .h5 vs torch: max abs diff ${diff.toExponential(2)} (max |y| ${Math.max(...ref.output.map(Math.abs)).toFixed(3)})`)
    expect(diff).toBeLessThanOrEqual(1e-4)
    tf.dispose([x, xp, y, expected])
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
  })

  it('a shape mismatch is refused with an error naming the layer and shapes; extra layers are reported', async () => {
    expect(vggWhyNot).toBe('')
    // A small CNN whose first layer has VGG's name but 32 filters instead of 64.
    const model = buildCnn([{ type: 'Conv2D', name: 'block1_conv1', filters: 32, kernelSize: 3, padding: 'same' }, { type: 'Flatten' }], { inputShape: [8, 8, 3], numClasses: 2 })
    const err = await loadKerasH5Weights(model, join(tmp, 'vgg16_notop_random.h5')).catch((e) => e)
    expect(err).toBeInstanceOf(AppError)
    expect(err.message).toContain('block1_conv1: model expects 2 weights [3, 3, 3, 32] [32], ')
    expect(err.message).toContain('has 2: [3, 3, 3, 64] [64]')
    expect(err.report.extra).toContain('block5_conv3')
    // the transfer model's base is matched through the nested model; the new top is reported missing
    const t = buildTransferModel('vgg16', { inputShape: [32, 32, 3], numClasses: 3 })
    const r = await loadKerasH5Weights(t.model, join(tmp, 'vgg16_notop_random.h5'))
    expect(r.loaded).toHaveLength(13)
    expect(r.missing).toEqual(['dense'])
    await expect(loadKerasH5Weights(t.model, join(tmp, 'vgg16_notop_random.h5'), { strict: true })).rejects.toThrow(/no weights in it: dense/)
    await expect(loadKerasH5Weights(t.model, join(tmp, 'nope.h5'))).rejects.toThrow(/not found/)
    writeFileSync(join(tmp, 'bad.h5'), 'not hdf5')
    await expect(loadKerasH5Weights(t.model, join(tmp, 'bad.h5'))).rejects.toThrow(/not a readable HDF5 file/)
  })
})

describe('offline MobileNetV2 weights from nsfwjs@4.4.0', () => {
  const dir = findNsfwjsMobileNetDir()

  it('our MobileNetV2 224 + nsfwjs top, loaded with its weights, matches nsfwjs on real images (<= 1e-4)', async () => {
    if (!dir) return console.warn('skipping nsfwjs parity: nsfwjs is not installed')
    const art = readNsfwjsMobileNetV2(dir)
    const ref = await tf.loadLayersModel(tf.io.fromMemory(art))
    // Ours: the Keras Applications base plus the same top nsfwjs put on it.
    const base = buildMobileNetV2({ alpha: 1.0, inputSize: 224 })
    let x = base.outputs[0]
    x = tf.layers.averagePooling2d({ poolSize: 7, strides: 7, name: 'average_pooling2d_1' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.flatten({ name: 'flatten_1' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.dense({ units: 256, activation: 'relu', name: 'dense_1' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.dropout({ rate: 0.5, name: 'dropout_2' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.dense({ units: 128, activation: 'relu', name: 'dense_2' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.dropout({ rate: 0.25, name: 'dropout_3' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.dense({ units: 5, activation: 'softmax', name: 'dense_3' }).apply(x) as tf.SymbolicTensor
    const ours = tf.model({ inputs: base.inputs, outputs: [base.outputs[0], x] })
    const report = loadNsfwjsMobileNetV2Weights(ours, { strict: true, dir })
    expect(report.mismatched).toEqual([])
    expect(report.missing).toEqual([])
    expect(report.extra).toEqual([])
    expect(report.loaded).toHaveLength(104 + 3)

    const files = [`${DATA}/train/cats/cat.0.jpg`, `${DATA}/validation/dogs/${readdirSync(`${DATA}/validation/dogs`).sort()[0]}`].filter(existsSync)
    expect(files.length).toBeGreaterThanOrEqual(2)
    const img = await loadImages(files, 224)
    const xp = applyPreprocess(img, preprocessFor('mobilenetv2'))
    const refBoth = tf.model({ inputs: ref.inputs, outputs: [ref.getLayer('out_relu').output as tf.SymbolicTensor, ref.outputs[0]] })
    const [rf, rp] = refBoth.predict(xp) as tf.Tensor[]
    const [of, op] = ours.predict(xp) as tf.Tensor[]
    const dFeat = maxAbsDiff(rf, of)
    const dProb = maxAbsDiff(rp, op)
    console.log(`nsfwjs parity on ${files.length} images: features max abs diff ${dFeat}, probabilities ${dProb}`)
    expect(dFeat).toBeLessThanOrEqual(1e-4)
    expect(dProb).toBeLessThanOrEqual(1e-4)
    // the weights are real (not all-zero activations)
    expect(tf.max(of).dataSync()[0]).toBeGreaterThan(1)
    tf.dispose([img, xp, rf, rp, of, op])
    ref.dispose()
    ours.dispose()
  })

  it('a TF.js model.json on disk: matched by name, the foreign top reported as extra; a different alpha is refused', async () => {
    if (!dir) return console.warn('skipping: nsfwjs is not installed')
    const art = readNsfwjsMobileNetV2(dir)
    const out = join(tmp, 'nsfw-tfjs')
    mkdirSync(out, { recursive: true })
    writeFileSync(join(out, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: art.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: art.weightSpecs }] }))
    writeFileSync(join(out, 'group1-shard1of1.bin'), new Uint8Array(art.weightData as ArrayBuffer))
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2 })
    // the user-given file path (CLI --base-weights PATH) goes through loadWeightsFromSource
    const r = await loadWeightsFromSource(t.model, { kind: 'file', path: join(out, 'model.json') })
    expect(r.path).toBe(join(out, 'model.json'))
    expect(r.loaded).toHaveLength(104)
    expect(r.extra.sort()).toEqual(['dense_1', 'dense_2', 'dense_3'])
    expect(r.missing).toEqual(['dense'])
    const small = buildMobileNetV2({ alpha: 0.35, inputSize: 96 })
    await expect(loadTfjsLayersWeights(small, join(out, 'model.json'))).rejects.toThrow(/Conv1: model expects 1 weights \[3, 3, 3, 16\], .* has 1: \[3, 3, 3, 32\]/)
    await expect(loadWeightsFromSource(small, { kind: 'file', path: join(out, 'group1-shard1of1.bin') })).rejects.toThrow(/Unsupported weights file/)
  })
})
