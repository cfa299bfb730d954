import * as tf from '@tensorflow/tfjs'
import { flatLayers } from './loop'

/**
 * Freezing and BatchNormalization handling for the recipes, as Keras does it:
 * - transfer: base.trainable = false; the base's BN layers run in inference mode.
 * - finetune: the base's top layers (top N, or from a named layer/block on) are unfrozen, the
 *   rest stay frozen, and every BN layer of the base keeps running in inference mode
 *   (keras.io transfer-learning guide: `base_model(x, training=False)`), so its moving mean
 *   and variance never change, while unfrozen BN gamma/beta still train.
 */

const INFERENCE_ONLY = Symbol('inferenceOnly')

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[]

/** Makes a BatchNormalization layer always run in inference mode (moving statistics frozen). */
export function forceInferenceMode(layer: tf.layers.Layer): void {
  const l = layer as unknown as { call: CallFn; [INFERENCE_ONLY]?: boolean }
  if (l[INFERENCE_ONLY]) return
  const orig = l.call.bind(layer)
  l.call = (inputs, kwargs) => orig(inputs, { ...(kwargs ?? {}), training: false })
  l[INFERENCE_ONLY] = true
}

export function isBatchNorm(l: tf.layers.Layer): boolean {
  return l.getClassName() === 'BatchNormalization'
}

/** The nested base model inside a transfer model (the one layer that is itself a model). */
export function findBase(model: tf.LayersModel): tf.LayersModel | null {
  for (const l of model.layers) if (Array.isArray((l as unknown as { layers?: unknown }).layers)) return l as unknown as tf.LayersModel
  return null
}

/** Base layers that carry or transform data (InputLayer excluded). */
function baseLayers(base: tf.LayersModel): tf.layers.Layer[] {
  return base.layers.filter((l) => l.getClassName() !== 'InputLayer')
}

/** Transfer recipe: freeze the whole base, BN in inference mode. */
export function freezeBase(base: tf.LayersModel): void {
  base.trainable = false
  for (const l of flatLayers(base)) if (isBatchNorm(l)) forceInferenceMode(l)
}

/**
 * Index (into the base's non-input layers) of the first layer to unfreeze.
 * `from`: a number = unfreeze the top N layers; a string = that layer's name, or a block
 * prefix such as "block_13" (MobileNetV2) / "block5" (VGG16): the first layer whose name is it
 * or starts with it followed by "_". Default: the top 30 % of layers.
 */
export function fineTuneStartIndex(base: tf.LayersModel, from: number | string | undefined): number {
  const layers = baseLayers(base)
  const n = layers.length
  if (from === undefined) return Math.floor(n * 0.7)
  if (typeof from === 'number') {
    if (!Number.isInteger(from) || from < 0) throw new Error(`--fine-tune-from ${from}: expected a whole number of top layers (0..${n}) or a layer/block name.`)
    if (from > n) throw new Error(`--fine-tune-from ${from}: the base has only ${n} layers. Use a number up to ${n} or a layer/block name.`)
    return n - from
  }
  const exact = layers.findIndex((l) => l.name === from)
  if (exact >= 0) return exact
  const prefix = layers.findIndex((l) => l.name.startsWith(`${from}_`))
  if (prefix >= 0) return prefix
  const blocks = [...new Set(layers.map((l) => /^(block_?\d+)/.exec(l.name)?.[1]).filter(Boolean))]
  throw new Error(`--fine-tune-from "${from}": no layer or block of that name in ${base.name}. Blocks: ${blocks.join(', ') || '(none)'}; or give a number of top layers.`)
}

/**
 * Fine-tune recipe: unfreeze base layers from `startIndex` on, keep the rest frozen, and run
 * every BN layer of the base in inference mode. Returns the names of the unfrozen layers.
 */
export function unfreezeTop(base: tf.LayersModel, startIndex: number): string[] {
  const layers = baseLayers(base)
  base.trainable = true
  const unfrozen: string[] = []
  layers.forEach((l, i) => {
    l.trainable = i >= startIndex
    if (l.trainable && l.weights.length > 0) unfrozen.push(l.name)
  })
  for (const l of flatLayers(base)) if (isBatchNorm(l)) forceInferenceMode(l)
  return unfrozen
}

/**
 * A model on pooled base features (after GlobalAveragePooling2D) that shares the head's
 * Dropout/Dense layers with the full transfer model, so training it trains the full model's head.
 * Returns null when the model is not base -> GAP -> [Dropout] -> Dense.
 */
export function pooledHead(model: tf.LayersModel, base: tf.LayersModel): { head: tf.LayersModel; gap: tf.layers.Layer; dim: number } | null {
  const after = model.layers.slice(model.layers.indexOf(base as unknown as tf.layers.Layer) + 1)
  if (after.length < 2 || after[0].getClassName() !== 'GlobalAveragePooling2D') return null
  const rest = after.slice(1)
  if (!rest.every((l) => l.getClassName() === 'Dropout' || l.getClassName() === 'Dense')) return null
  const dim = base.outputs[0].shape[3] as number
  const input = tf.input({ shape: [dim], name: 'pooled_features' })
  let x: tf.SymbolicTensor = input
  for (const l of rest) x = l.apply(x) as tf.SymbolicTensor
  return { head: tf.model({ inputs: input, outputs: x, name: 'pooled_head' }), gap: after[0], dim }
}

export type OptimizerFactory = (lr: number) => tf.Optimizer

/** Keras defaults: Adam(eps 1e-7), RMSprop(rho 0.9, eps 1e-7), SGD. */
export function makeOptimizer(name: 'adam' | 'rmsprop' | 'sgd', lr: number): tf.Optimizer {
  if (name === 'adam') return tf.train.adam(lr, 0.9, 0.999, 1e-7)
  if (name === 'rmsprop') return tf.train.rmsprop(lr, 0.9, 0, 1e-7)
  return tf.train.sgd(lr)
}
