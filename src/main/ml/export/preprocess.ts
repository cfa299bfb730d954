/**
 * The preprocessing.json that describes an export's input transform, and that transform applied
 * as a user following the file would (the app's own transform is models/preprocess.ts).
 */
import * as tf from '@tensorflow/tfjs'
import type { ModelPreprocess, PreprocessingJson } from '../../../shared/export'
import type { ProjectSettings } from '../../../shared/project'
import { applyPreprocess } from '../models/preprocess'

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
    const channels = p.grayToRgb ? 3 : p.channels
    const gray = tf.cast(x, 'float32') as tf.Tensor4D
    const t = p.normalization.kind === 'none' ? (channels === 3 && x.shape[3] === 1 ? tf.tile(gray, [1, 1, 1, 3]) : gray) : applyPreprocess(x, p.normalization, channels as 1 | 3)
    return p.layout === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) : t
  })
}
