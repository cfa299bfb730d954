/**
 * Models for the export tests, built with Keras's layer names and structure (keras/applications
 * mobilenet_v2.py and vgg16.py), random weights. Used until/unless src/main/ml/models' builders are used.
 */
import * as tf from '@tensorflow/tfjs'

export function fashionCnn(numClasses = 10): tf.LayersModel {
  const m = tf.sequential({ name: 'fashion_cnn' })
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2d' }))
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d' }))
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2d_1' }))
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'max_pooling2d_1' }))
  m.add(tf.layers.flatten({ name: 'flatten' }))
  m.add(tf.layers.dense({ units: 100, activation: 'relu', name: 'dense' }))
  m.add(tf.layers.dropout({ rate: 0.5, name: 'dropout' }))
  m.add(tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'dense_1' }))
  return m
}

function makeDivisible(v: number, divisor = 8): number {
  let nv = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor)
  if (nv < 0.9 * v) nv += divisor
  return nv
}

/** Keras MobileNetV2 without top (include_top=False), structure and names as keras.applications. */
export function mobileNetV2Base(size: number, alpha = 0.35, blocks = 17): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'input_1' })
  const bn = (name: string) => tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.999, name })
  let x = tf.layers.conv2d({ filters: makeDivisible(32 * alpha), kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1' }).apply(input) as tf.SymbolicTensor
  x = bn('bn_Conv1').apply(x) as tf.SymbolicTensor
  x = tf.layers.reLU({ maxValue: 6, name: 'Conv1_relu' }).apply(x) as tf.SymbolicTensor
  const spec: [number, number, number][] = [
    [16, 1, 1], [24, 2, 6], [24, 1, 6], [32, 2, 6], [32, 1, 6], [32, 1, 6], [64, 2, 6], [64, 1, 6], [64, 1, 6], [64, 1, 6],
    [96, 1, 6], [96, 1, 6], [96, 1, 6], [160, 2, 6], [160, 1, 6], [160, 1, 6], [320, 1, 6],
  ]
  spec.slice(0, blocks).forEach(([filters, stride, expansion], id) => {
    const inputs = x
    const inCh = inputs.shape[3] as number
    const pw = makeDivisible(Math.floor(filters * alpha))
    let prefix = `block_${id}_`
    if (id) {
      x = tf.layers.conv2d({ filters: expansion * inCh, kernelSize: 1, padding: 'same', useBias: false, name: prefix + 'expand' }).apply(x) as tf.SymbolicTensor
      x = bn(prefix + 'expand_BN').apply(x) as tf.SymbolicTensor
      x = tf.layers.reLU({ maxValue: 6, name: prefix + 'expand_relu' }).apply(x) as tf.SymbolicTensor
    } else prefix = 'expanded_conv_'
    if (stride === 2) {
      const s = x.shape[1] as number
      const pad: [[number, number], [number, number]] = s % 2 === 0 ? [[0, 1], [0, 1]] : [[1, 1], [1, 1]] // imagenet_utils.correct_pad
      x = tf.layers.zeroPadding2d({ padding: pad, name: prefix + 'pad' }).apply(x) as tf.SymbolicTensor
    }
    x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, useBias: false, padding: stride === 1 ? 'same' : 'valid', name: prefix + 'depthwise' }).apply(x) as tf.SymbolicTensor
    x = bn(prefix + 'depthwise_BN').apply(x) as tf.SymbolicTensor
    x = tf.layers.reLU({ maxValue: 6, name: prefix + 'depthwise_relu' }).apply(x) as tf.SymbolicTensor
    x = tf.layers.conv2d({ filters: pw, kernelSize: 1, padding: 'same', useBias: false, name: prefix + 'project' }).apply(x) as tf.SymbolicTensor
    x = bn(prefix + 'project_BN').apply(x) as tf.SymbolicTensor
    if (inCh === pw && stride === 1) x = tf.layers.add({ name: prefix + 'add' }).apply([inputs, x]) as tf.SymbolicTensor
  })
  if (blocks === 17) {
    x = tf.layers.conv2d({ filters: alpha > 1 ? makeDivisible(1280 * alpha) : 1280, kernelSize: 1, useBias: false, name: 'Conv_1' }).apply(x) as tf.SymbolicTensor
    x = bn('Conv_1_bn').apply(x) as tf.SymbolicTensor
    x = tf.layers.reLU({ maxValue: 6, name: 'out_relu' }).apply(x) as tf.SymbolicTensor
  }
  return tf.model({ inputs: input, outputs: x, name: `mobilenetv2_${alpha.toFixed(2)}_${size}` })
}

/** Keras VGG16 without top. */
export function vgg16Base(size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3], name: 'input_2' })
  let x: tf.SymbolicTensor = input
  const blocks: [number, number][] = [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]]
  blocks.forEach(([filters, n], b) => {
    for (let i = 1; i <= n; i++) x = tf.layers.conv2d({ filters, kernelSize: 3, padding: 'same', activation: 'relu', name: `block${b + 1}_conv${i}` }).apply(x) as tf.SymbolicTensor
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `block${b + 1}_pool` }).apply(x) as tf.SymbolicTensor
  })
  return tf.model({ inputs: input, outputs: x, name: 'vgg16' })
}

/** The transfer model the app trains: base (frozen, nested as one layer) -> GAP -> Dropout -> Dense softmax. */
export function transferModel(base: tf.LayersModel, numClasses: number): tf.LayersModel {
  base.trainable = false
  const shape = base.inputs[0].shape.slice(1) as number[]
  const input = tf.input({ shape, name: 'image' })
  let x = base.apply(input) as tf.SymbolicTensor
  x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.dropout({ rate: 0.2, name: 'dropout' }).apply(x) as tf.SymbolicTensor
  x = tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'predictions' }).apply(x) as tf.SymbolicTensor
  return tf.model({ inputs: input, outputs: x, name: 'transfer_model' })
}

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Gives every BatchNormalization layer (nested ones too) non-trivial statistics: moving mean and variance
 * measured on `sample` (a training-mode pass with momentum 0, so activations stay in a healthy range the
 * way a trained network's do), then random gamma in 0.5..1.5 and beta in -0.3..0.3. Returns how many.
 */
export function randomizeBatchNorm(model: tf.LayersModel, seed = 1, sample?: tf.Tensor): number {
  const r = rng(seed)
  const bns: tf.layers.Layer[] = []
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) visit(l.layers)
      else if (l.getClassName() === 'BatchNormalization') bns.push(l)
    }
  }
  visit(model.layers)
  const randomized = (w: tf.Tensor, lo: number, hi: number) => tf.tensor(Float32Array.from({ length: w.size }, () => lo + r() * (hi - lo)), w.shape)
  for (const l of bns) {
    const [g, b, m, v] = l.getWeights()
    l.setWeights([randomized(g, 0.5, 1.5), randomized(b, -0.3, 0.3), randomized(m, -0.5, 0.5), randomized(v, 0.5, 2)])
  }
  if (sample) {
    const saved = bns.map((l) => (l as unknown as { momentum: number }).momentum)
    for (const l of bns) (l as unknown as { momentum: number }).momentum = 0
    tf.tidy(() => {
      model.apply(sample, { training: true })
    })
    bns.forEach((l, i) => ((l as unknown as { momentum: number }).momentum = saved[i]))
  }
  return bns.length
}

/** n random images [n, size, size, c] of 0..255 integers, as float32 and as uint8. */
export function randomImages(n: number, h: number, c: number, seed = 7, w = h): { u8: Uint8Array; shape: [number, number, number, number] } {
  const r = rng(seed)
  const u8 = new Uint8Array(n * h * w * c)
  for (let i = 0; i < u8.length; i++) u8[i] = Math.floor(r() * 256)
  return { u8, shape: [n, h, w, c] }
}

/** Sets every bias (nested layers too) to small random values so a dropped or misplaced bias shows. */
export function randomizeBiases(model: tf.LayersModel, seed = 3): void {
  const r = rng(seed)
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) visit(l.layers)
      else
        for (const w of l.weights)
          if (/bias$/.test(w.originalName)) {
            const shape = w.shape as number[]
            w.write(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() - 0.5) * 0.2), shape))
          }
    }
  }
  visit(model.layers)
}
