import * as tf from '@tensorflow/tfjs'
import { ModelSpec, type ModelSpecInput, type TransferBase, type MobileNetAlpha } from '../../../shared/models'
import { buildBase } from './bases'
import { keepBatchNormInInference } from './batchnorm'
import { buildCnn, type BuildOptions } from './cnn'
import { parseOrThrow } from '../../../shared/errors'
import { invalidModel } from './errors'

export interface TransferModel {
  /** inputs -> base -> GlobalAveragePooling2D -> Dropout -> Dense(softmax); base is one nested layer. */
  model: tf.LayersModel
  /**
   * The pretrained base (shared with `model`): set `base.trainable` or per-layer `trainable` to
   * freeze/unfreeze. Its BatchNormalization layers always run in inference mode (see keepBatchNormInInference).
   */
  base: tf.LayersModel
  /** The same classifier layers as `model` on the base's output: train it on cached base features. */
  head: tf.LayersModel
}

export interface TransferOptions extends BuildOptions {
  alpha?: MobileNetAlpha
  /** Dropout rate before the classifier; default 0.2 (Keras transfer-learning tutorial). */
  dropout?: number
  /** Cut the base at this layer's output (see truncateBase); absent = the whole base. */
  cut?: string
}

/**
 * keras.io "Transfer learning & fine-tuning" recipe: base(include_top=False) + global average
 * pooling + dropout + Dense(numClasses, softmax). Layer names as in a fresh Keras session.
 */
export function buildTransferModel(baseName: TransferBase, opts: TransferOptions): TransferModel {
  const [h, w, c] = opts.inputShape
  if (h !== w) throw invalidModel(`Pretrained bases need a square input; received ${h}x${w}.`, 'Set the project input size (square) in the settings.')
  if (c !== 3 && c !== 1) throw invalidModel(`Pretrained bases take RGB images; received ${c} channels.`)
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 2)
    throw invalidModel(`numClasses must be an integer >= 2; received ${opts.numClasses}.`, 'A classifier needs at least two labels.')
  const rate = opts.dropout ?? 0.2
  if (!(rate >= 0 && rate < 1)) throw invalidModel(`dropout must be in [0, 1); received ${rate}.`)
  const base = buildBase(baseName, { inputSize: h, alpha: opts.alpha })
  return assembleTransfer(opts.cut ? truncateBase(base, opts.cut) : base, [h, w], opts.numClasses, rate)
}

/** inputs -> base (BN in inference mode) -> GAP -> Dropout -> Dense(softmax), and the same head on base features. */
function assembleTransfer(base: tf.LayersModel, [h, w]: [number, number], numClasses: number, rate: number): TransferModel {
  // Keras recipe: base(inputs, training=False) -> BN layers of the base stay in inference mode.
  keepBatchNormInInference(base)
  // Grayscale projects are tiled to 3 channels by applyPreprocess, so the model input is always RGB.
  const inputs = tf.input({ shape: [h, w, 3], name: 'input_2' })
  const features = base.apply(inputs) as tf.SymbolicTensor
  const gap = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' })
  const drop = tf.layers.dropout({ rate, name: 'dropout' })
  const dense = tf.layers.dense({ units: numClasses, activation: 'softmax', name: 'dense' })
  const out = dense.apply(drop.apply(gap.apply(features))) as tf.SymbolicTensor
  const model = tf.model({ inputs, outputs: out, name: 'model' })
  const featIn = tf.input({ shape: base.outputs[0].shape.slice(1) as number[], name: 'features' })
  const head = tf.model({ inputs: featIn, outputs: dense.apply(drop.apply(gap.apply(featIn))) as tf.SymbolicTensor, name: 'head' })
  return { model, base, head }
}

/** The name of the layer whose output a base gives (its last layer). */
export function baseOutputLayer(base: tf.LayersModel): string {
  return base.layers[base.layers.length - 1].name
}

/**
 * The base cut at `layer`: the same layers (and weights) from the input up to that layer's
 * output, under the base's name; the layers above it are disposed (their weights freed). A
 * 4-D output (a feature map) is required, since the head pools it. Cutting at the base's own
 * output returns the base unchanged.
 */
export function truncateBase(base: tf.LayersModel, layer: string): tf.LayersModel {
  if (baseOutputLayer(base) === layer) return base
  let l: tf.layers.Layer
  try {
    l = base.getLayer(layer)
  } catch {
    throw invalidModel(`The base ${base.name} has no layer "${layer}" to cut at.`, 'Give the name of one of its layers (e.g. block_12_add for MobileNetV2), or "full" for the whole base.')
  }
  const out = l.output as tf.SymbolicTensor
  if (Array.isArray(out) || out.shape.length !== 4) throw invalidModel(`Cannot cut ${base.name} at "${layer}": its output is not a feature map (shape ${JSON.stringify((out as tf.SymbolicTensor).shape)}).`)
  const cut = tf.model({ inputs: base.inputs, outputs: out, name: base.name })
  const keep = new Set(cut.layers)
  for (const x of base.layers) if (!keep.has(x)) x.dispose()
  return cut
}

/**
 * A transfer model whose base is `t`'s base cut at `layer` (weights kept: call it after loading
 * the pretrained weights), with a new GAP -> Dropout -> Dense head (same layer names, fresh
 * initialisation). `t`'s layers above the cut and its old head are disposed; do not use `t` after.
 */
export function cutTransferModel(t: Pick<TransferModel, 'model' | 'base'>, layer: string, numClasses: number, dropout = 0.2): TransferModel {
  if (baseOutputLayer(t.base) === layer) throw invalidModel(`The base already ends at ${layer}.`)
  const [h, w] = t.model.inputs[0].shape.slice(1, 3) as [number, number]
  const cut = truncateBase(t.base, layer)
  // The old head's layers (GAP, Dropout, Dense): only the Dense holds weights. It is referenced
  // once per model it was applied in (the model and the head), so dispose it until it is freed.
  for (const l of t.model.layers)
    if (l !== (t.base as unknown as tf.layers.Layer) && l.getClassName() === 'Dense') while (l.dispose().refCountAfterDispose > 0);
  return assembleTransfer(cut, [h, w], numClasses, dropout)
}

export interface BuiltModel {
  model: tf.LayersModel
  /** Present for transfer models. */
  base?: tf.LayersModel
  head?: tf.LayersModel
}

/** Builds any ModelSpec. For transfer specs, returns the base and head too. */
export function buildModelFull(spec: ModelSpecInput, opts: BuildOptions): BuiltModel {
  const s = parseOrThrow(ModelSpec, spec, 'model spec')
  if (s.type === 'cnn') return { model: buildCnn(s.layers, opts) }
  return buildTransferModel(s.base, { ...opts, alpha: s.alpha, dropout: s.dropout })
}

/** buildModel(spec, {inputShape, numClasses}) -> tf.LayersModel (Keras-equivalent). */
export function buildModel(spec: ModelSpecInput, opts: BuildOptions): tf.LayersModel {
  return buildModelFull(spec, opts).model
}
