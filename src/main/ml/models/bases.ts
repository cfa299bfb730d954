import * as tf from '@tensorflow/tfjs'
import type { MobileNetAlpha, TransferBase } from '../../../shared/models'
import { invalidModel } from './errors'

/** Keras `_make_divisible` (keras/applications/mobilenet_v2.py). */
export function makeDivisible(v: number, divisor: number, minValue?: number): number {
  const min = minValue ?? divisor
  let newV = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor)
  if (newV < 0.9 * v) newV += divisor
  return newV
}

/** Keras `imagenet_utils.correct_pad` for channels_last: ((top, bottom), (left, right)). */
export function correctPad(h: number, w: number, kernel = 3): [[number, number], [number, number]] {
  const adjust = [1 - (h % 2), 1 - (w % 2)]
  const c = Math.floor(kernel / 2)
  return [
    [c - adjust[0], c],
    [c - adjust[1], c],
  ]
}

export const MOBILENET_ALPHAS: MobileNetAlpha[] = [0.35, 0.5, 0.75, 1.0]
/** Sizes with published ImageNet weights. Other sizes in 96..224 are built; weights load from the 224 file. */
export const MOBILENET_SIZES = [96, 128, 160, 192, 224]

export interface BaseOptions {
  /** Square input side in pixels. MobileNetV2: 96..224 (default 224). VGG16: >= 32 (default 224). */
  inputSize?: number
  /** MobileNetV2 width multiplier; default 1.0. */
  alpha?: MobileNetAlpha
}

const bn = (name: string) => tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum: 0.999, name })
const relu6 = (name: string) => tf.layers.reLU({ maxValue: 6, name })

function invertedResBlock(
  inputs: tf.SymbolicTensor,
  expansion: number,
  stride: number,
  alpha: number,
  filters: number,
  blockId: number,
): tf.SymbolicTensor {
  const inChannels = inputs.shape[3] as number
  const pointwiseFilters = makeDivisible(Math.trunc(filters * alpha), 8)
  let x = inputs
  let prefix = `block_${blockId}_`
  if (blockId) {
    x = tf.layers
      .conv2d({ filters: expansion * inChannels, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}expand` })
      .apply(x) as tf.SymbolicTensor
    x = bn(`${prefix}expand_BN`).apply(x) as tf.SymbolicTensor
    x = relu6(`${prefix}expand_relu`).apply(x) as tf.SymbolicTensor
  } else {
    prefix = 'expanded_conv_'
  }
  if (stride === 2) {
    const [h, w] = [x.shape[1] as number, x.shape[2] as number]
    x = tf.layers.zeroPadding2d({ padding: correctPad(h, w, 3), name: `${prefix}pad` }).apply(x) as tf.SymbolicTensor
  }
  x = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    })
    .apply(x) as tf.SymbolicTensor
  x = bn(`${prefix}depthwise_BN`).apply(x) as tf.SymbolicTensor
  x = relu6(`${prefix}depthwise_relu`).apply(x) as tf.SymbolicTensor
  x = tf.layers
    .conv2d({ filters: pointwiseFilters, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project` })
    .apply(x) as tf.SymbolicTensor
  x = bn(`${prefix}project_BN`).apply(x) as tf.SymbolicTensor
  if (inChannels === pointwiseFilters && stride === 1) {
    return tf.layers.add({ name: `${prefix}add` }).apply([inputs, x]) as tf.SymbolicTensor
  }
  return x
}

/** The Keras model name, e.g. "mobilenetv2_1.00_224". */
export function mobileNetV2Name(alpha: number, size: number): string {
  return `mobilenetv2_${alpha.toFixed(2)}_${size}`
}

/**
 * MobileNetV2 without top, layer for layer as keras.applications.MobileNetV2(include_top=False):
 * same names, shapes and parameter counts, output (None, ceil(size/32), ., 1280).
 */
export function buildMobileNetV2(opts: BaseOptions = {}): tf.LayersModel {
  const alpha = opts.alpha ?? 1.0
  const size = opts.inputSize ?? 224
  if (![0.35, 0.5, 0.75, 1.0].includes(alpha))
    throw invalidModel(`MobileNetV2 alpha must be one of 0.35, 0.5, 0.75, 1.0 (the widths with ImageNet weights); received ${alpha}.`)
  if (!Number.isInteger(size) || size < 96 || size > 224)
    throw invalidModel(
      `MobileNetV2 takes square images of 96 to 224 pixels; these are ${size}x${size}.`,
      size < 96
        ? `A project's image size is fixed by its first import, so for these images train a CNN from scratch instead (CLI: --recipe cnn, e.g. --model fashion-mnist-cnn; in the app: a CNN preset in the Model view), ` +
            `or create a new project and import the images into it with --size 96 or larger (${MOBILENET_SIZES.join(', ')} have ImageNet weights; small images are upscaled).`
        : `A project's image size is fixed by its first import: create a new project and import the images with --size 224 or smaller (${MOBILENET_SIZES.join(', ')} have ImageNet weights), or train a CNN from scratch (CLI: --recipe cnn) or use --base vgg16, which take larger images.`,
    )
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' })
  const first = makeDivisible(32 * alpha, 8)
  let x = tf.layers
    .conv2d({ filters: first, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' })
    .apply(input) as tf.SymbolicTensor
  x = bn('bn_Conv1').apply(x) as tf.SymbolicTensor
  x = relu6('Conv1_relu').apply(x) as tf.SymbolicTensor
  const blocks: [filters: number, stride: number, expansion: number][] = [
    [16, 1, 1],
    [24, 2, 6], [24, 1, 6],
    [32, 2, 6], [32, 1, 6], [32, 1, 6],
    [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
    [96, 1, 6], [96, 1, 6], [96, 1, 6],
    [160, 2, 6], [160, 1, 6], [160, 1, 6],
    [320, 1, 6],
  ]
  blocks.forEach(([filters, stride, expansion], id) => {
    x = invertedResBlock(x, expansion, stride, alpha, filters, id)
  })
  // Keras: no alpha on the last conv unless alpha > 1.
  const last = alpha > 1.0 ? makeDivisible(1280 * alpha, 8) : 1280
  x = tf.layers.conv2d({ filters: last, kernelSize: 1, useBias: false, name: 'Conv_1' }).apply(x) as tf.SymbolicTensor
  x = bn('Conv_1_bn').apply(x) as tf.SymbolicTensor
  x = relu6('out_relu').apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: x, name: mobileNetV2Name(alpha, size) })
}

/** VGG16 without top, as keras.applications.VGG16(include_top=False). */
export function buildVgg16(opts: BaseOptions = {}): tf.LayersModel {
  const size = opts.inputSize ?? 224
  if (!Number.isInteger(size) || size < 32 || size > 1024)
    throw invalidModel(`VGG16 input size must be an integer from 32 to 1024; received ${size}.`, 'Keras requires at least 32x32 for VGG16; 224 is the size it was trained at.')
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' })
  let x: tf.SymbolicTensor = input
  const cfg: [block: number, convs: number, filters: number][] = [
    [1, 2, 64],
    [2, 2, 128],
    [3, 3, 256],
    [4, 3, 512],
    [5, 3, 512],
  ]
  for (const [b, n, filters] of cfg) {
    for (let i = 1; i <= n; i++) {
      x = tf.layers
        .conv2d({ filters, kernelSize: 3, activation: 'relu', padding: 'same', name: `block${b}_conv${i}` })
        .apply(x) as tf.SymbolicTensor
    }
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b}_pool` }).apply(x) as tf.SymbolicTensor
  }
  return tf.model({ inputs: input, outputs: x, name: 'vgg16' })
}

/** Builds a pretrained-architecture base (random weights; load weights separately). */
export function buildBase(name: TransferBase, opts: BaseOptions = {}): tf.LayersModel {
  if (name === 'mobilenetv2') return buildMobileNetV2(opts)
  if (name === 'vgg16') return buildVgg16(opts)
  throw invalidModel(`Unknown base "${String(name)}"; expected "mobilenetv2" or "vgg16".`)
}
