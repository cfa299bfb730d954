import { execFileSync } from 'node:child_process'
import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  applyPreprocess,
  buildCnn,
  buildModel,
  buildModelFull,
  CNN_PRESETS,
  formatSummary,
  keepBatchNormInInference,
  buildTransferModel,
  buildMobileNetV2,
  preprocessForSpec,
  makeDivisible,
  preprocessFor,
  resolveModelName,
  summarize,
} from '../../src/main/ml/models'
import { AppError } from '../../src/shared/errors'
import { PY, pythonLacks } from '../helpers/python'

type Golden = Record<string, { total: number; trainable: number; nonTrainable: number; outputShape: number[]; layers: [string, number][] }>

let golden: Golden | null = null
let goldenWhyNot = ''

beforeAll(async () => {
  await tf.setBackend('cpu')
  if (pythonLacks('torch')) return
  try {
    const out = execFileSync(PY, ['scripts/golden/keras_param_counts.py'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    golden = JSON.parse(out) as Golden
  } catch (e) {
    goldenWhyNot = `scripts/golden/keras_param_counts.py failed (python3-torch missing?): ${(e as Error).message.split('\n')[0]}`
  }
})

/** Keras's documented / model.summary() totals (keras.io applications table and the tutorials). */
const KERAS_TOTALS: Record<string, number> = {
  'fashion-mnist-cnn': 333_526,
  'sign-mnist-cnn': 264_049,
  mobilenetv2: 2_257_984, // keras.applications.MobileNetV2(include_top=False), alpha 1.0
  vgg16: 14_714_688, // keras.applications.VGG16(include_top=False)
}

describe('parameter counts equal Keras', () => {
  it.each(Object.entries(KERAS_TOTALS))('%s has Keras total %i', (name, total) => {
    const { model } = resolveModelName(name)
    expect(summarize(model).totalParams).toBe(total)
    model.dispose()
  })

  it('sign-mnist-cnn: 300 non-trainable params (BN moving statistics)', () => {
    const s = summarize(resolveModelName('sign-mnist-cnn').model)
    expect(s.nonTrainableParams).toBe(300)
    expect(s.trainableParams).toBe(264_049 - 300)
  })

  const cases: [string, string][] = [
    ['fashion-mnist-cnn', 'fashion-mnist-cnn'],
    ['sign-mnist-cnn', 'sign-mnist-cnn'],
    ['cats-dogs-cnn', 'cats-dogs-cnn'],
    ['cats-dogs-cnn-bn', 'cats-dogs-cnn-bn'],
    ['mobilenetv2', 'mobilenetv2-1.0-224'],
    ['mobilenetv2-0.35-96', 'mobilenetv2-0.35-96'],
    ['mobilenetv2-0.5-128', 'mobilenetv2-0.5-128'],
    ['mobilenetv2-0.75-160', 'mobilenetv2-0.75-160'],
    ['mobilenetv2-1.0-160', 'mobilenetv2-1.0-160'],
    ['mobilenetv2-0.35-224', 'mobilenetv2-0.35-224'],
    ['mobilenetv2-1.0-97', 'mobilenetv2-1.0-97'],
    ['vgg16', 'vgg16-224'],
    ['vgg16-64', 'vgg16-64'],
  ]
  it.skipIf(pythonLacks('torch')).each(cases)('%s matches the PyTorch rebuild layer by layer (scripts/golden/keras_param_counts.py)', (name, key) => {
    expect(golden, goldenWhyNot).not.toBeNull()
    const g = golden![key]
    const { model } = resolveModelName(name)
    const s = summarize(model)
    expect(s.totalParams).toBe(g.total)
    expect(s.trainableParams).toBe(g.trainable)
    expect(s.nonTrainableParams).toBe(g.nonTrainable)
    expect((model.outputs[0].shape as number[]).slice(1)).toEqual(g.outputShape)
    const ours = s.layers.filter((l) => l.type !== 'InputLayer').map((l) => [l.name, l.params])
    expect(ours).toEqual(g.layers)
    model.dispose()
  })
})

describe('Keras naming and summary text', () => {
  it('names layers per model as a fresh Keras session does', () => {
    const a = buildCnn(CNN_PRESETS['fashion-mnist-cnn'].layers, { inputShape: [28, 28, 1], numClasses: 10 })
    const b = buildCnn(CNN_PRESETS['fashion-mnist-cnn'].layers, { inputShape: [28, 28, 1], numClasses: 10 })
    const names = ['conv2d', 'max_pooling2d', 'conv2d_1', 'max_pooling2d_1', 'flatten', 'dense', 'dropout', 'dense_1']
    expect(summarize(a).layers.map((l) => l.name)).toEqual(names)
    expect(summarize(b).layers.map((l) => l.name)).toEqual(names)
  })

  it('prints the tf.keras 2.x table for the Fashion CNN', () => {
    const text = formatSummary(summarize(resolveModelName('fashion-mnist-cnn').model))
    const lines = text.split('\n')
    expect(lines[0]).toBe('Model: "sequential"')
    expect(lines[1]).toBe('_'.repeat(65))
    expect(lines[2]).toBe(' Layer (type)                Output Shape              Param #   ')
    expect(lines[4]).toBe(' conv2d (Conv2D)             (None, 28, 28, 32)        320       ')
    // Keras wraps the long type name at column 29
    expect(lines[6]).toBe(' max_pooling2d (MaxPooling2D  (None, 14, 14, 32)       0         ')
    expect(lines[7]).toBe(' )                                                               ')
    expect(text).toContain(' flatten (Flatten)           (None, 3136)              0         ')
    expect(text).toContain('Total params: 333,526\nTrainable params: 333,526\nNon-trainable params: 0\n' + '_'.repeat(65))
  })

  it('MobileNetV2 uses Keras Applications layer names and a "Connected to" column', () => {
    const { model } = resolveModelName('mobilenetv2-0.35-96')
    const s = summarize(model)
    const names = s.layers.map((l) => l.name)
    expect(s.model).toBe('mobilenetv2_0.35_96')
    expect(names.slice(0, 6)).toEqual(['input_1', 'Conv1', 'bn_Conv1', 'Conv1_relu', 'expanded_conv_depthwise', 'expanded_conv_depthwise_BN'])
    expect(names).toContain('block_1_pad')
    expect(names).toContain('block_16_project_BN')
    expect(names.slice(-3)).toEqual(['Conv_1', 'Conv_1_bn', 'out_relu'])
    expect(s.layers.find((l) => l.name === 'block_2_add')?.connectedTo).toEqual(['block_1_project_BN[0][0]', 'block_2_project_BN[0][0]'])
    const text = formatSummary(s)
    expect(text.split('\n')[2]).toBe(' Layer (type)                   Output Shape         Param #     Connected to                     ')
    expect(text).toContain(' input_1 (InputLayer)           [(None, 96, 96, 3)]  0           []                               ')
  })

  it('transfer model: base nested as one Functional layer, as the keras.io tutorial prints it', () => {
    const built = buildModelFull({ type: 'transfer', base: 'mobilenetv2' }, { inputShape: [160, 160, 3], numClasses: 2 })
    const s = summarize(built.model)
    expect(s.layers.map((l) => `${l.name} (${l.type}) ${l.outputShape} ${l.params}`)).toEqual([
      'input_2 (InputLayer) [(None, 160, 160, 3)] 0',
      'mobilenetv2_1.00_160 (Functional) (None, 5, 5, 1280) 2257984',
      'global_average_pooling2d (GlobalAveragePooling2D) (None, 1280) 0',
      'dropout (Dropout) (None, 1280) 0',
      'dense (Dense) (None, 2) 2562',
    ])
    expect(formatSummary(s)).toContain(' mobilenetv2_1.00_160 (Funct  (None, 5, 5, 1280)       2257984   \n ional)')
    // freezing the base leaves only the classifier trainable (2562)
    built.base!.trainable = false
    expect(summarize(built.model).trainableParams).toBe(2562)
    expect(built.head!.countParams()).toBe(2562)
  })
})

describe('validation errors name the layer, the shapes and the fix', () => {
  it('kernel larger than its input with padding valid', () => {
    const spec = {
      type: 'cnn' as const,
      layers: [
        { type: 'Conv2D' as const, filters: 8, kernelSize: 3, activation: 'relu' as const },
        { type: 'MaxPooling2D' as const, poolSize: 2 },
        { type: 'Conv2D' as const, filters: 8, kernelSize: 5 },
        { type: 'Flatten' as const },
      ],
    }
    let err: unknown
    try {
      buildModel(spec, { inputShape: [8, 8, 1], numClasses: 3 })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AppError)
    const e = err as AppError
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toContain('Layer "conv2d_1" (Conv2D, layer 3 of 5)')
    expect(e.message).toContain('kernel 5x5 is larger than its input 3x3x8')
    expect(e.message).toContain('padding "valid"')
    expect(e.hint).toMatch(/use padding "same"/)
    // padding same builds
    spec.layers[2] = { ...spec.layers[2], padding: 'same' } as never
    expect(summarize(buildModel(spec, { inputShape: [8, 8, 1], numClasses: 3 })).totalParams).toBe(80 + 1608 + 3 * 3 * 8 * 3 + 3)
  })

  it('Dense on an image-shaped tensor asks for Flatten', () => {
    expect(() => buildModel({ type: 'cnn', layers: [{ type: 'Conv2D', filters: 4, kernelSize: 3 }] }, { inputShape: [8, 8, 3], numClasses: 2 })).toThrow(
      /Layer "dense" \(Dense, layer 2 of 2\) receives an image-shaped input \(None, 6, 6, 4\)/,
    )
  })

  it('rejects bad specs and options', () => {
    expect(() => buildModel({ type: 'cnn', layers: [{ type: 'Dropout', rate: 1.5 } as never, { type: 'Flatten' }] }, { inputShape: [8, 8, 1], numClasses: 2 })).toThrow(/rate/)
    expect(() => buildModel({ type: 'cnn', layers: [{ type: 'Flatten' }] }, { inputShape: [8, 8, 1], numClasses: 1 })).toThrow(/numClasses must be an integer >= 2/)
    expect(() => resolveModelName('mobilenetv2-0.6-160')).toThrow(/expected one of 0.35, 0.5, 0.75, 1/)
    expect(() => resolveModelName('mobilenetv2-1.0-64')).toThrow(/96 to 224/)
    expect(() => resolveModelName('resnet50')).toThrow(/Unknown model "resnet50"/)
  })

  it('_make_divisible as Keras', () => {
    expect([8, 12, 16, 24, 32, 56].map((v) => makeDivisible(v * 0.35, 8))).toEqual([8, 8, 8, 8, 16, 24])
    expect(makeDivisible(32 * 0.75, 8)).toBe(24)
  })
})

describe('preprocess_input', () => {
  it('MobileNetV2: x / 127.5 - 1, gray tiled to RGB', async () => {
    const x = tf.tensor4d(new Uint8Array([0, 127, 255, 64]), [1, 2, 2, 1], 'int32')
    const y = applyPreprocess(x, preprocessFor('mobilenetv2'), 3)
    expect(y.shape).toEqual([1, 2, 2, 3])
    const v = await y.data()
    const expected = [0, 127, 255, 64].flatMap((p) => [p / 127.5 - 1, p / 127.5 - 1, p / 127.5 - 1])
    expected.forEach((e, i) => expect(v[i]).toBeCloseTo(e, 6))
    tf.dispose([x, y])
  })

  it('VGG16: caffe mode (RGB -> BGR, minus the ImageNet BGR mean)', async () => {
    const spec = preprocessFor('vgg16')
    expect(spec).toEqual({ kind: 'caffe', mean: [103.939, 116.779, 123.68], channelOrder: 'bgr' })
    const before = tf.memory().numTensors
    const x = tf.tensor4d([10, 20, 30, 200, 100, 0], [1, 1, 2, 3])
    const y = applyPreprocess(x, spec)
    expect(Array.from(await y.data())).toEqual(
      [30 - 103.939, 20 - 116.779, 10 - 123.68, 0 - 103.939, 100 - 116.779, 200 - 123.68].map((v) => Math.fround(v)),
    )
    tf.dispose([x, y])
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('BatchNormalization of a base stays in inference mode during fit (Keras base(x, training=False))', () => {
  const bnStats = (l: tf.layers.Layer) => l.getWeights().slice(2).map((w) => Array.from(w.dataSync()))

  it('plain TF.js BN updates its moving stats in fit; keepBatchNormInInference stops that', async () => {
    const m = buildCnn([{ type: 'Conv2D', filters: 4, kernelSize: 3 }, { type: 'BatchNormalization' }, { type: 'Flatten' }], { inputShape: [6, 6, 1], numClasses: 2 })
    m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' })
    const x = tf.randomUniform([4, 6, 6, 1], 0, 1, 'float32', 1)
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2)
    const bn = m.getLayer('batch_normalization')
    const s0 = bnStats(bn)
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 })
    const s1 = bnStats(bn)
    expect(s1).not.toEqual(s0)
    expect(keepBatchNormInInference(m)).toBe(1)
    await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 })
    expect(bnStats(bn)).toEqual(s1)
    tf.dispose([x, y])
  })

  it('transfer model: the base computes the same features in training mode as in inference, and keeps its moving statistics', async () => {
    const t = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 2, alpha: 0.35 })
    expect(t.base.trainable).toBe(true) // unfrozen, as during fine-tuning
    const x = tf.randomUniform([2, 96, 96, 3], 0, 3, 'float32', 2)
    const bn = t.base.getLayer('bn_Conv1')
    const s0 = bnStats(bn)
    const inference = t.base.predict(x) as tf.Tensor
    const training = t.base.apply(x, { training: true }) as tf.Tensor
    expect(Array.from(training.dataSync())).toEqual(Array.from(inference.dataSync()))
    expect(bnStats(bn)).toEqual(s0)
    // control: the same architecture without the guard normalises with batch statistics and moves them
    const plain = buildMobileNetV2({ alpha: 0.35, inputSize: 96 })
    const p0 = bnStats(plain.getLayer('bn_Conv1'))
    const pi = plain.predict(x) as tf.Tensor
    const pt = plain.apply(x, { training: true }) as tf.Tensor
    expect(Array.from(pt.dataSync())).not.toEqual(Array.from(pi.dataSync()))
    expect(bnStats(plain.getLayer('bn_Conv1'))).not.toEqual(p0)
    tf.dispose([x, inference, training, pi, pt])
    plain.dispose()
    expect(preprocessForSpec({ type: 'transfer', base: 'mobilenetv2' })).toEqual(preprocessFor('mobilenetv2'))
    expect(preprocessForSpec({ type: 'cnn', layers: [{ type: 'Flatten' }] })).toEqual({ kind: 'scale', scale: 1 / 255, offset: 0 })
    t.model.dispose()
  })
})
