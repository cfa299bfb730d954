/**
 * Helpers for the export tests: the Fashion-MNIST CNN with Keras's layer names, deterministic random
 * images, and weights made non-trivial (BatchNormalization statistics, biases). MobileNetV2 / VGG16 come
 * from the models owner's builders (src/main/ml/models).
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

import { mulberry32 as rng } from '../../src/main/ml/training/rng'
export { rng }

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
      forwardCalibrating(model, [sample])
    })
    bns.forEach((l, i) => ((l as unknown as { momentum: number }).momentum = saved[i]))
  }
  return bns.length
}

interface SymT {
  id: number
}
interface GraphNode {
  inputTensors: SymT[]
  outputTensors: SymT[]
}

/**
 * One forward pass, layer by layer (nested models too), with BatchNormalization layers called in training
 * mode so that (momentum 0) their moving statistics become the batch statistics. Walked by hand because the
 * models builder pins BatchNormalization instances to inference mode (as Keras's base(x, training=False)).
 */
function forwardCalibrating(container: tf.LayersModel, inputs: tf.Tensor[]): tf.Tensor[] {
  const vals = new Map<number, tf.Tensor>()
  ;(container.inputs as unknown as SymT[]).forEach((t, i) => vals.set(t.id, inputs[i]))
  for (const layer of container.layers) {
    for (const node of (layer as unknown as { inboundNodes: GraphNode[] }).inboundNodes) {
      if (!node.inputTensors.length || !node.inputTensors.every((t) => vals.has(t.id)) || node.outputTensors.every((t) => vals.has(t.id))) continue
      const ins = node.inputTensors.map((t) => vals.get(t.id)!)
      const outs =
        layer instanceof tf.LayersModel
          ? forwardCalibrating(layer, ins)
          : layer.getClassName() === 'BatchNormalization'
            ? // the class's own call: the models builder pins BN instances to inference mode
              [(Object.getPrototypeOf(layer) as { call: (x: tf.Tensor, k: object) => tf.Tensor }).call.call(layer, ins[0], { training: true })]
            : ([layer.apply(ins.length === 1 ? ins[0] : ins)].flat() as tf.Tensor[])
      node.outputTensors.forEach((t, i) => vals.set(t.id, outs[i]))
    }
  }
  return (container.outputs as unknown as SymT[]).map((t) => vals.get(t.id)!)
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
