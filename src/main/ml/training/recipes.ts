import * as tf from '@tensorflow/tfjs'
import { NSFWJS_WEIGHTS_ID } from '../../../shared/models'
import { AppError } from '../../../shared/errors'
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
    if (!Number.isInteger(from) || from < 0) throw new AppError('INVALID_INPUT', `--fine-tune-from ${from}: expected a whole number of top layers (0..${n}) or a layer/block name.`, 'For example --fine-tune-from block_13 or --fine-tune-from 30.')
    if (from > n) throw new AppError('INVALID_INPUT', `--fine-tune-from ${from}: the base has only ${n} layers.`, `Use a number up to ${n} or a layer/block name.`)
    return n - from
  }
  const exact = layers.findIndex((l) => l.name === from)
  if (exact >= 0) return exact
  const prefix = layers.findIndex((l) => l.name.startsWith(`${from}_`))
  if (prefix >= 0) return prefix
  const blocks = [...new Set(layers.map((l) => /^(block_?\d+)/.exec(l.name)?.[1]).filter(Boolean))]
  throw new AppError('INVALID_INPUT', `--fine-tune-from "${from}": no layer or block of that name in ${base.name}.`, `Blocks: ${blocks.join(', ') || '(none)'}; or give a number of top layers.`)
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

// ---- the one-click default ------------------------------------------------------------------

/**
 * Where the offline MobileNetV2 (nsfwjs's weights: ImageNet training in blocks 0-10, blocks
 * 11-16 retrained for another task) is cut by default: the output of block 16 (320 channels),
 * before the 1x1 Conv_1 expansion to 1280 that nsfwjs trained last. Measured with
 * `npx tsx bench/default-recipe.ts` (bench/results/default-recipe.json; mean validation accuracy
 * with autoSchedule, 8 split seeds): flowers 64.9 % against 56.0 % for the whole base (better or
 * equal in all 8 splits), cats vs dogs 120 images 74.0 % against 72.4 %, cats vs dogs
 * 2,000/1,000 86.5 % against 87.4 % (one split); earlier cuts (block_13_expand_relu,
 * block_12_add, block_10) and Keras's x/127.5-1 scaling measured lower overall.
 */
export const OFFLINE_MOBILENETV2_CUT: string = 'block_16_project_BN'

/**
 * The layer a transfer run cuts its base at, or null for the whole base. `requested`: 'auto'
 * (the default: the offline MobileNetV2 weights -> OFFLINE_MOBILENETV2_CUT when the base has
 * that layer; any other weights -> the whole base), 'full' (or absent, as in runs made before
 * cuts existed), or a layer name of the base (checked when the model is cut).
 */
export function resolveBaseCut(requested: string | undefined, weightsId: string | null, base: tf.LayersModel): string | null {
  if (requested === undefined || requested === 'full') return null
  if (requested !== 'auto') return base.layers[base.layers.length - 1].name === requested ? null : requested
  if (weightsId !== NSFWJS_WEIGHTS_ID) return null
  return base.layers.some((l) => l.name === OFFLINE_MOBILENETV2_CUT) ? OFFLINE_MOBILENETV2_CUT : null
}

/**
 * Epochs and early-stopping patience chosen from the training-set size (`autoEpochs`): up to
 * AUTO_MAX_EPOCHS (Teachable Machine's 50), fewer for large sets (about AUTO_STEPS optimizer
 * steps, at least AUTO_MIN_EPOCHS, Keras's 10-20), with early stopping on val_loss restoring the
 * best weights and a patience of a fifth of the epochs (at least 5), so a small, noisy validation
 * set does not stop a run that is still learning. Measured in bench/default-recipe.ts against
 * the old 10 epochs (best checkpoint), whole base: flowers 49.6 -> 56.0 %, cats vs dogs 120
 * images 63.5 -> 72.4 %, 2,000/1,000 85.1 -> 87.4 %; on the same histories patience 10 was as
 * good as or better than 5 and 8 on every set.
 */
export const AUTO_STEPS = 3000
export const AUTO_MIN_EPOCHS = 15
export const AUTO_MAX_EPOCHS = 50
export function autoSchedule(trainCount: number, batchSize: number): { epochs: number; patience: number } {
  const stepsPerEpoch = Math.max(1, Math.ceil(trainCount / Math.max(1, batchSize)))
  const epochs = Math.min(AUTO_MAX_EPOCHS, Math.max(AUTO_MIN_EPOCHS, Math.ceil(AUTO_STEPS / stepsPerEpoch)))
  return { epochs, patience: Math.max(5, Math.round(epochs / 5)) }
}

/**
 * Whether a run was still improving when it ended: it finished its planned epochs (not stopped
 * by the user or by early stopping) and its best epoch (1-based) is the last one.
 */
export function stillImproving(o: { bestEpoch: number; epochsDone: number; epochsPlanned: number; stopped: boolean; stoppedEarly: boolean }): boolean {
  return !o.stopped && !o.stoppedEarly && o.epochsDone >= o.epochsPlanned && o.epochsDone > 0 && o.bestEpoch === o.epochsDone
}

/**
 * The plain-words note a transfer run on the offline weights carries (TrainResult.weightsNote,
 * status.json, the start event), for the Train view to show as it is. `inputSize`: the project's
 * image side (the official file to download depends on it).
 */
export function offlineWeightsNote(inputSize = 224): string {
  const cmd = `classifier-studio weights download mobilenetv2${inputSize === 224 || ![96, 128, 160, 192].includes(inputSize) ? '' : ` --size ${inputSize}`}`
  return (
    'This model was trained on the built-in MobileNetV2 weights, which are only partly ImageNet-trained (blocks 0-10; the later blocks were retrained for another task), so it is weaker than it could be. ' +
    `The official ImageNet weights give clearly better models: download them once (a small file, with progress) with "${cmd}" or the Download button in the Train view, then train again.`
  )
}

/** The weights note for a run: set for the offline MobileNetV2 weights, else null. */
export function weightsNoteFor(weightsId: string | null, inputSize?: number): string | null {
  return weightsId === NSFWJS_WEIGHTS_ID ? offlineWeightsNote(inputSize) : null
}
