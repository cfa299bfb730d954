/**
 * The app's input transform in TF.js (0..255 pixels -> model input), and the preprocessing.json that
 * describes it for an export.
 */
import * as tf from '@tensorflow/tfjs'
import type { ModelPreprocess, PreprocessingJson } from '../../../shared/export'
import type { ProjectSettings } from '../../../shared/project'

/** x: [n,h,w,c] 0..255 (uint8 or float). Tiles gray to RGB when the model wants 3 channels. Returns float32. */
export function applyModelPreprocess(x: tf.Tensor4D, pre: ModelPreprocess, modelChannels: number): tf.Tensor4D {
  return tf.tidy(() => {
    let t = x.dtype === 'float32' ? x : (tf.cast(x, 'float32') as tf.Tensor4D)
    if (t.shape[3] === 1 && modelChannels === 3) t = tf.concat([t, t, t], 3)
    if (t.shape[3] !== modelChannels) throw new Error(`Images have ${t.shape[3]} channels but the model expects ${modelChannels}.`)
    if (pre.kind === 'scale') return tf.add(tf.mul(t, pre.scale), pre.offset) as tf.Tensor4D
    if (pre.kind === 'caffe') {
      const bgr = tf.reverse(t, 3)
      return tf.sub(bgr, tf.tensor1d(pre.mean)) as tf.Tensor4D
    }
    return tf.clone(t)
  })
}

/** Describes, for preprocessing.json, how an image file becomes this export's input tensor. */
export function describePreprocessing(opts: {
  settings: ProjectSettings
  preprocess: ModelPreprocess
  modelChannels: number
  folded: boolean
  layout: 'NHWC' | 'NCHW'
  inputName: string
  outputName: string
}): PreprocessingJson {
  const { settings, preprocess, modelChannels, folded } = opts
  const grayToRgb = settings.channels === 1 && modelChannels === 3
  const colour = settings.channels === 1 ? 'grayscale' : 'rgb'
  const steps: string[] = []
  steps.push('Decode the image file; apply its EXIF orientation; composite any alpha over the background colour; convert to sRGB 8-bit.')
  if (colour === 'grayscale') steps.push('Convert to one gray channel (ITU-R BT.601 luma, as sharp/libvips does).')
  const size = settings.inputSize
  if (settings.resizeMode === 'squash') steps.push(`Resize to ${size}x${size} ignoring the aspect ratio (squash).`)
  else if (settings.resizeMode === 'crop') steps.push(`Resize so the shorter side is ${size}, then centre-crop to ${size}x${size}.`)
  else steps.push(`Resize so the longer side is ${size}, then pad to ${size}x${size} with ${settings.background}, centred.`)
  steps.push(`Make a float32 tensor [batch, ${size}, ${size}, ${colour === 'grayscale' ? 1 : 3}] of pixel values 0..255 (NHWC).`)
  const norm: string[] = []
  if (grayToRgb) norm.push('repeat the gray channel 3 times (RGB)')
  if (preprocess.kind === 'scale') norm.push(`multiply by ${preprocess.scale} and add ${preprocess.offset}`)
  if (preprocess.kind === 'caffe') norm.push(`reorder channels RGB -> BGR and subtract the mean [${preprocess.mean.join(', ')}] (B, G, R)`)
  if (norm.length) steps.push(folded ? `Feed it as is: the model itself does this first: ${norm.join('; ')}.` : `Then ${norm.join('; ')}.`)
  if (opts.layout === 'NCHW' && !folded) steps.push('Transpose to NCHW [batch, channels, height, width].')
  steps.push(`Output "${opts.outputName}": class probabilities [batch, classes] in the order of labels.json.`)
  return {
    inputSize: size,
    resizeMode: settings.resizeMode,
    background: settings.background,
    colour,
    channels: folded ? settings.channels : modelChannels,
    grayToRgb,
    channelOrder: (folded ? settings.channels : modelChannels) === 1 ? 'GRAY' : !folded && preprocess.kind === 'caffe' ? 'BGR' : 'RGB',
    layout: opts.layout,
    dtype: 'float32',
    normalization: preprocess,
    foldedIntoModel: folded,
    inputName: opts.inputName,
    outputName: opts.outputName,
    steps,
  }
}

/** Applies preprocessing.json to 0..255 NHWC pixels, as a user following it would (the parity check uses this). */
export function applyDocumentedPreprocessing(x: tf.Tensor4D, p: PreprocessingJson): tf.Tensor {
  return tf.tidy(() => {
    if (p.foldedIntoModel) {
      const t = tf.cast(x, 'float32')
      return p.layout === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t
    }
    const t = applyModelPreprocess(x, p.normalization, p.grayToRgb ? 3 : p.channels)
    return p.layout === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t
  })
}
