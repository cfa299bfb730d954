import * as tf from '@tensorflow/tfjs'
import { ModelSpec, PreprocessSpec, type ModelSpecInput, type TransferBase } from '../../../shared/models'
import { invalidModel } from './errors'

/** ImageNet mean in BGR order, as keras.applications.imagenet_utils (caffe mode). */
export const CAFFE_MEAN_BGR: [number, number, number] = [103.939, 116.779, 123.68]

/** The `preprocess_input` of a Keras Applications base. */
export function preprocessFor(base: TransferBase): PreprocessSpec {
  if (base === 'mobilenetv2') return { kind: 'scale', scale: 1 / 127.5, offset: -1 } // mode "tf"
  if (base === 'vgg16') return { kind: 'caffe', mean: [...CAFFE_MEAN_BGR], channelOrder: 'bgr' }
  throw invalidModel(`Unknown base "${String(base)}"; expected "mobilenetv2" or "vgg16".`)
}

/** Custom CNNs: pixels 0..255 -> 0..1 (the tutorials' x / 255). */
export const RESCALE_01: PreprocessSpec = { kind: 'scale', scale: 1 / 255, offset: 0 }

/**
 * Applies a preprocess spec to an NHWC batch (uint8 or float, values 0..255) and returns a new
 * float32 tensor; the input is not disposed. `channels`: the channels the model takes; a
 * 1-channel input to a 3-channel model is tiled to gray RGB first (caffe always needs 3).
 */
export function applyPreprocess(x: tf.Tensor4D, specIn: PreprocessSpec, channels?: 1 | 3): tf.Tensor4D {
  const spec = PreprocessSpec.parse(specIn)
  if (x.rank !== 4) throw invalidModel(`applyPreprocess expects an NHWC batch (rank 4); received shape [${x.shape.join(', ')}].`)
  const c = x.shape[3]
  const want = spec.kind === 'caffe' ? 3 : (channels ?? c)
  if (c !== 1 && c !== 3) throw invalidModel(`Images must have 1 or 3 channels; received ${c}.`)
  if (want === 1 && c === 3) throw invalidModel('The model takes grayscale images but the batch is RGB.', 'Re-import the dataset with channels = 1.')
  return tf.tidy(() => {
    let f = tf.cast(x, 'float32') as tf.Tensor4D
    if (c === 1 && want === 3) f = tf.tile(f, [1, 1, 1, 3])
    if (spec.kind === 'scale') return tf.add(tf.mul(f, spec.scale), spec.offset) as tf.Tensor4D
    const bgr = tf.reverse(f, 3)
    return tf.sub(bgr, tf.tensor1d(spec.mean)) as tf.Tensor4D
  })
}

/** The preprocess a model built from `spec` expects: x/255 for custom CNNs, the base's preprocess_input for transfer models. */
export function preprocessForSpec(spec: ModelSpecInput): PreprocessSpec {
  const s = ModelSpec.parse(spec)
  return s.type === 'transfer' ? preprocessFor(s.base) : RESCALE_01
}
