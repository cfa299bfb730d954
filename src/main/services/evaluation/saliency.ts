import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { applyPreprocess } from '../../ml/models/preprocess'
import { AppError } from '../../../shared/errors'
import { modelInputShape } from './infer'
import type { RunModel } from './deps'

export interface SaliencyMap {
  /** h*w, the largest |d log p(class) / d pixel| over the channels, row-major. */
  map: Float32Array
  height: number
  width: number
  classIndex: number
  label: string
  probability: number
}

/**
 * Vanilla gradient saliency (Simonyan et al. 2014): the gradient of log p(class | image)
 * with respect to the input pixels (0..255, before the run's preprocessing), max |.| over
 * channels. `classIndex` defaults to the predicted class. Works for every model/base because it
 * only needs the model's gradient; all tensors are disposed.
 */
export function saliencyMap(run: RunModel, pixels: Uint8Array, classIndex?: number): SaliencyMap {
  const [h, w, c] = modelInputShape(run.model)
  const pc = run.settings.channels
  if (pixels.length !== h * w * pc) {
    throw new AppError('INVALID_INPUT', `The image has ${pixels.length} values but the model takes ${h}x${w}x${pc}.`, 'Use an image decoded with the project\'s settings.')
  }
  const k = run.labels.length
  if (classIndex !== undefined && (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= k)) {
    throw new AppError('BAD_REQUEST', `classIndex ${classIndex} is not a class of this run (0..${k - 1}).`)
  }
  const x = tf.tensor4d(Float32Array.from(pixels), [1, h, w, pc])
  try {
    const probs = tf.tidy(() => (run.model.predict(applyPreprocess(x, run.preprocess, c as 1 | 3)) as tf.Tensor).dataSync() as Float32Array)
    let cls = classIndex ?? 0
    if (classIndex === undefined) for (let i = 1; i < k; i++) if (probs[i] > probs[cls]) cls = i
    const logP = (inp: tf.Tensor): tf.Tensor => {
      const y = run.model.apply(applyPreprocess(inp as tf.Tensor4D, run.preprocess, c as 1 | 3), { training: false }) as tf.Tensor
      return tf.log(tf.maximum(y.reshape([k]).slice([cls], [1]), 1e-12)).reshape([])
    }
    const map = tf.tidy(() => {
      const g = tf.grad(logP)(x)
      return tf.max(tf.abs(g), 3).reshape([h * w]).dataSync() as Float32Array
    })
    return { map: Float32Array.from(map), height: h, width: w, classIndex: cls, label: run.labels[cls], probability: probs[cls] }
  } finally {
    x.dispose()
  }
}

/** A perceptual colormap (black → purple → orange → yellow, like matplotlib's inferno), t in 0..1. */
function inferno(t: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [0, 0, 4],
    [87, 16, 110],
    [188, 55, 84],
    [249, 142, 9],
    [252, 255, 164],
  ]
  const f = Math.min(1, Math.max(0, t)) * (stops.length - 1)
  const i = Math.min(stops.length - 2, Math.floor(f))
  const u = f - i
  return [0, 1, 2].map((j) => Math.round(stops[i][j] + (stops[i + 1][j] - stops[i][j]) * u)) as [number, number, number]
}

/**
 * The saliency map as a heatmap over the image, PNG. Values are scaled by their 99th
 * percentile; the heat is blended in proportion to its strength. `size` = output side
 * (default: at least 224 px, nearest-neighbour so small images stay crisp).
 */
export async function saliencyOverlayPng(pixels: Uint8Array, channels: 1 | 3, s: SaliencyMap, size?: number): Promise<Buffer> {
  const { width: w, height: h, map } = s
  const sorted = Float32Array.from(map).sort()
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] || sorted[sorted.length - 1] || 1
  const rgb = Buffer.alloc(w * h * 3)
  for (let i = 0; i < w * h; i++) {
    const t = Math.min(1, map[i] / (p99 || 1))
    const heat = inferno(t)
    const a = 0.25 + 0.6 * t
    for (let ch = 0; ch < 3; ch++) {
      const base = channels === 3 ? pixels[i * 3 + ch] : pixels[i]
      rgb[i * 3 + ch] = Math.round(base * (1 - a) + heat[ch] * a)
    }
  }
  const side = size ?? Math.max(224, w)
  return sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
    .resize(side, Math.round((side * h) / w), { kernel: 'nearest' })
    .png()
    .toBuffer()
}
