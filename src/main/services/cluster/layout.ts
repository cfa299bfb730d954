import type * as tf from '@tensorflow/tfjs'

/**
 * Keras (TF.js) weight layouts <-> PyTorch layouts, by the class of the layer a weight belongs to:
 *   Conv2D kernel          [kh, kw, in, out]  <->  [out, in, kh, kw]
 *   DepthwiseConv2D kernel [kh, kw, in, m]    <->  [in * m, 1, kh, kw]   (output channel i * m + j, as both)
 *   Dense kernel           [in, out]          <->  [out, in]
 *   everything else (biases, BatchNormalization's gamma/beta/moving statistics): unchanged.
 * Weights keep their Keras names ("conv2d/kernel", "block_1_depthwise/depthwise_kernel") on both sides.
 */

export type WeightKind = 'conv' | 'depthwise' | 'dense' | 'plain'

/** Every weight of a model (nested models included) by its Keras name, with the kind of layout it has. */
export function weightKinds(model: tf.LayersModel): Map<string, WeightKind> {
  const out = new Map<string, WeightKind>()
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers
      if (Array.isArray(inner)) {
        visit(inner)
        continue
      }
      const cls = l.getClassName()
      for (const w of l.weights) {
        const leaf = w.originalName.split('/').pop()
        const kind: WeightKind = leaf === 'depthwise_kernel' ? 'depthwise' : leaf === 'kernel' && (cls === 'Conv2D' || cls === 'Conv2DTranspose') ? 'conv' : leaf === 'kernel' && cls === 'Dense' ? 'dense' : 'plain'
        out.set(w.originalName, kind)
      }
    }
  }
  visit(model.layers)
  return out
}

/** A Keras-layout array -> PyTorch layout: the new data and shape. */
export function toTorch(data: Float32Array, shape: number[], kind: WeightKind): { data: Float32Array; shape: number[] } {
  if (kind === 'conv') {
    const [kh, kw, ci, co] = shape
    const out = new Float32Array(data.length)
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o]
    return { data: out, shape: [co, ci, kh, kw] }
  }
  if (kind === 'depthwise') {
    const [kh, kw, ci, m] = shape
    const out = new Float32Array(data.length)
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let c = 0; c < ci * m; c++) out[(c * kh + y) * kw + x] = data[(y * kw + x) * ci * m + c]
    return { data: out, shape: [ci * m, 1, kh, kw] }
  }
  if (kind === 'dense') {
    const [ci, co] = shape
    const out = new Float32Array(data.length)
    for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[o * ci + i] = data[i * co + o]
    return { data: out, shape: [co, ci] }
  }
  return { data: data.slice(), shape: [...shape] }
}

/** A PyTorch-layout array -> the Keras layout of `kerasShape`. */
export function fromTorch(data: Float32Array, kerasShape: number[], kind: WeightKind): Float32Array {
  if (kind === 'conv') {
    const [kh, kw, ci, co] = kerasShape
    const out = new Float32Array(data.length)
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[((y * kw + x) * ci + i) * co + o] = data[((o * ci + i) * kh + y) * kw + x]
    return out
  }
  if (kind === 'depthwise') {
    const [kh, kw, ci, m] = kerasShape
    const out = new Float32Array(data.length)
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let c = 0; c < ci * m; c++) out[(y * kw + x) * ci * m + c] = data[(c * kh + y) * kw + x]
    return out
  }
  if (kind === 'dense') {
    const [ci, co] = kerasShape
    const out = new Float32Array(data.length)
    for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[i * co + o] = data[o * ci + i]
    return out
  }
  return data.slice()
}

/** The PyTorch shape of a Keras-layout weight. */
export function torchShape(kerasShape: number[], kind: WeightKind): number[] {
  if (kind === 'conv') return [kerasShape[3], kerasShape[2], kerasShape[0], kerasShape[1]]
  if (kind === 'depthwise') return [kerasShape[2] * kerasShape[3], 1, kerasShape[0], kerasShape[1]]
  if (kind === 'dense') return [kerasShape[1], kerasShape[0]]
  return [...kerasShape]
}

export interface WeightsFileEntry {
  name: string
  shape: number[]
  /** Offset in float32 elements into the .bin file. */
  offset: number
}

export interface WeightsFile {
  format: 'keras-names-torch-layout'
  weights: WeightsFileEntry[]
}
