import * as tf from '@tensorflow/tfjs'
import { applyPreprocess } from '../../ml/models/preprocess'
import { AppError } from '../../../shared/errors'
import type { TopK } from '../../../shared/evaluation'
import type { RunModel } from './deps'

/** The model's expected [h, w, c] (from its input layer). */
export function modelInputShape(model: tf.LayersModel): [number, number, number] {
  const s = model.inputs[0].shape
  if (s.length !== 4 || s[1] == null || s[2] == null || s[3] == null) {
    throw new AppError('INVALID_INPUT', `The run's model takes input of shape [${s.join(', ')}], not a batch of images [n, h, w, c].`)
  }
  return [s[1], s[2], s[3]]
}

/**
 * Class probabilities for an NHWC uint8 batch: the run's exact preprocessing, then the model.
 * Returns n*k float32 probabilities; every tensor created here is disposed.
 */
export function predictProbabilities(run: RunModel, x: Uint8Array, shape: [number, number, number, number]): { probs: Float32Array; k: number } {
  const [h, w, c] = modelInputShape(run.model)
  const [n, bh, bw, bc] = shape
  if (bh !== h || bw !== w) {
    throw new AppError(
      'INVALID_INPUT',
      `The images are ${bw}x${bh} but the model was trained on ${w}x${h}.`,
      'The project\'s image size changed after training: re-import the dataset with the run\'s settings or train again.',
    )
  }
  if (bc !== c && !(bc === 1 && c === 3)) {
    throw new AppError('INVALID_INPUT', `The images have ${bc} channel(s) but the model takes ${c}.`, 'Re-import the dataset with the run\'s channel setting or train again.')
  }
  if (x.length !== n * bh * bw * bc) throw new Error(`predictProbabilities: pixel buffer has ${x.length} values, expected ${n * bh * bw * bc}.`)
  const out = tf.tidy(() => {
    const t = tf.tensor4d(x, shape, 'int32')
    const pre = applyPreprocess(t, run.preprocess, c as 1 | 3)
    const y = run.model.predict(pre) as tf.Tensor
    return y.rank === 2 ? y : y.reshape([n, -1])
  })
  try {
    const k = out.shape[1] as number
    if (k !== run.labels.length) {
      throw new AppError('INVALID_INPUT', `The model has ${k} outputs but the run lists ${run.labels.length} labels.`, 'The run folder is inconsistent; train again.')
    }
    return { probs: out.dataSync() as Float32Array, k }
  } finally {
    out.dispose()
  }
}

/** Indices of the k largest values of row r (ties: lower index first). */
export function topIndices(probs: Float32Array, row: number, k: number, top: number): number[] {
  const base = row * k
  const idx = Array.from({ length: k }, (_, i) => i)
  idx.sort((a, b) => probs[base + b] - probs[base + a] || a - b)
  return idx.slice(0, Math.min(top, k))
}

export function topK(probs: Float32Array, row: number, k: number, top: number, labels: readonly string[]): TopK[] {
  return topIndices(probs, row, k, top).map((i) => ({ label: labels[i], index: i, probability: probs[row * k + i] }))
}

const EPS = 1e-7

/**
 * Keras/TF.js categorical cross-entropy of one row for a sparse label: probabilities divided
 * by their sum, clipped to [1e-7, 1 - 1e-7], -log(p[label]) (computed in float64).
 */
export function crossEntropy(probs: Float32Array, row: number, k: number, label: number): number {
  let s = 0
  for (let i = 0; i < k; i++) s += probs[row * k + i]
  const p = Math.min(1 - EPS, Math.max(EPS, probs[row * k + label] / s))
  return -Math.log(p)
}
