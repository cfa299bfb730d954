import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { applyPreprocess } from '../../ml/models/preprocess'
import { AppError } from '../../../shared/errors'
import { modelInputShape } from './infer'
import { singleTensorCuts, splitAtFrozenBottom } from '../../ml/training/frozen-split'
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

/** SmoothGrad samples the studio uses (evaluation.saliency): sharper maps than one gradient. */
export const SMOOTHGRAD = { samples: 12, noise: 0.15, seed: 1 } as const

export interface SaliencyOptions {
  /**
   * SmoothGrad (Smilkov et al. 2017): average |gradient| over this many copies of the image
   * with Gaussian noise added (1 = the plain gradient, the default).
   */
  samples?: number
  /** Noise standard deviation as a fraction of the 0..255 range (default 0.15). */
  noise?: number
  seed?: number
}

/**
 * Gradient saliency (Simonyan et al. 2014): the gradient of log p(class | image) with respect
 * to the input pixels (0..255, before the run's preprocessing), max |.| over channels; with
 * `samples` > 1, SmoothGrad's mean over noisy copies. `classIndex` defaults to the predicted
 * class. Works for every model/base (CNN presets, transfer and fine-tuned models) because it
 * only needs the model's gradient; all tensors are disposed.
 */
export function saliencyMap(run: RunModel, pixels: Uint8Array, classIndex?: number, opts: SaliencyOptions = {}): SaliencyMap {
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
    const n = Math.max(1, Math.floor(opts.samples ?? 1))
    // The sum over the batch: each copy's gradient is its own (the samples are independent).
    const logP = (inp: tf.Tensor): tf.Tensor => {
      const y = run.model.apply(applyPreprocess(inp as tf.Tensor4D, run.preprocess, c as 1 | 3), { training: false }) as tf.Tensor
      return tf.log(tf.maximum(y.reshape([-1, k]).slice([0, cls], [-1, 1]), 1e-12)).sum()
    }
    const map = tf.tidy(() => {
      const inp = n === 1 ? x : tf.add(tf.tile(x, [n, 1, 1, 1]), tf.randomNormal([n, h, w, pc], 0, (opts.noise ?? 0.15) * 255, 'float32', opts.seed ?? 1))
      const g = tf.grad(logP)(inp)
      return tf.mean(tf.max(tf.abs(g), 3), 0).reshape([h * w]).dataSync() as Float32Array
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

/**
 * The model as a chain of layers (each layer's only input is the previous layer's output): CNN
 * presets, custom CNNs and transfer models (input → base → pooling → dropout → dense), whose
 * base is one nested layer. Null for other graphs.
 */
function layerChain(model: tf.LayersModel): tf.layers.Layer[] | null {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer')
  for (let i = 0; i < layers.length; i++) {
    // A layer may also be used by another model (a transfer model's head shares its layers).
    const nodes = (layers[i] as unknown as { inboundNodes: { inboundLayers: tf.layers.Layer[] }[] }).inboundNodes ?? []
    const follows = (ins: tf.layers.Layer[]) => ins.length === 1 && (i === 0 ? ins[0].getClassName() === 'InputLayer' : ins[0] === layers[i - 1])
    if (!nodes.some((n) => follows(n.inboundLayers))) return null
  }
  return layers.length ? layers : null
}

/**
 * Grad-CAM (Selvaraju et al. 2017; HiResCAM's form, Draelos & Carin 2020) at the model's last
 * spatial feature map (the base's output of a transfer model, the last conv/pool block of a
 * CNN): the feature maps times the gradient of log p(class) with respect to them, summed over
 * channels, ReLU, upsampled bilinearly to the image. It shows the regions the decision rests on, not the edges a plain gradient also
 * lights up. Null when the model is not a chain of layers or has no spatial feature map.
 */
export function gradCamMap(run: RunModel, pixels: Uint8Array, classIndex?: number): SaliencyMap | null {
  const plan = camPlan(run.model)
  if (!plan) return null
  const [h, w, c] = modelInputShape(run.model)
  const pc = run.settings.channels
  if (pixels.length !== h * w * pc) return null
  const k = run.labels.length
  let result: SaliencyMap | null = null
  tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(pixels), [1, h, w, pc])
    const feats = plan.features(applyPreprocess(x, run.preprocess, c as 1 | 3))
    const tail = (a: tf.Tensor): tf.Tensor => plan.rest(a).reshape([k])
    const probs = tail(feats).dataSync() as Float32Array
    let cls = classIndex ?? 0
    if (classIndex === undefined) for (let i = 1; i < k; i++) if (probs[i] > probs[cls]) cls = i
    const g = tf.grad((a: tf.Tensor) => tf.log(tf.maximum(tail(a).slice([cls], [1]), 1e-12)).reshape([]))(feats)
    // HiResCAM's element-wise product: the same as Grad-CAM's channel weights (the gradient
    // averaged over positions) when the head pools globally, and faithful for CNNs whose head
    // flattens (a position's own weights, not the average over positions).
    // Evidence relative to the image's average: features every position has (the background)
    // carry some weight too, and would light the whole image; what stands out is what decides.
    const raw = tf.sum(tf.mul(feats, g), -1, true)
    const cam = tf.relu(tf.sub(raw, tf.mean(raw))) as tf.Tensor4D
    const up = tf.image.resizeBilinear(cam, [h, w], false, true).reshape([h * w]) // half-pixel centres: no shift
    const map = Float32Array.from(up.dataSync() as Float32Array)
    if (map.some((v) => v > 0)) result = { map, height: h, width: w, classIndex: cls, label: run.labels[cls], probability: probs[cls] }
  })
  return result
}

/** Where Grad-CAM reads the features: input → features(x) → rest(features) → probabilities. */
interface CamPlan {
  features(x: tf.Tensor): tf.Tensor
  rest(a: tf.Tensor): tf.Tensor
}

const spatial = (s: (number | null)[] | undefined) => (Array.isArray(s) && s.length === 4 && (s[1] ?? 0) > 1 && (s[2] ?? 0) > 1 ? (s[1] as number) : 0)

/**
 * A transfer or fine-tuned model (input → base → head) is cut inside its base at the last
 * single-tensor point with a grid at least twice as fine as the base's output (MobileNetV2:
 * block 12's output, 14x14 at 224 px, against 7x7), so the map can tell a quadrant from its
 * neighbour; a CNN at its last spatial layer (conv/pool before Flatten or pooling).
 */
function camPlan(model: tf.LayersModel): CamPlan | null {
  const chain = layerChain(model)
  if (!chain) return null
  const base = chain[0] as unknown as tf.LayersModel
  if (chain.length > 1 && Array.isArray((base as { layers?: unknown }).layers)) {
    const outSide = spatial(base.outputs[0].shape)
    const cuts = singleTensorCuts(base).filter((c) => c.shape.length === 3 && c.shape[0] > 1 && outSide > 0 && c.shape[0] >= 2 * outSide)
    const cut = cuts[cuts.length - 1]
    const split = cut ? splitAtFrozenBottom(model, base, cut.index) : null
    if (split) return { features: (x) => split.bottom.apply(x, { training: false }) as tf.Tensor, rest: (a) => split.top.apply(a, { training: false }) as tf.Tensor }
  }
  let cut = -1
  for (let i = 0; i < chain.length; i++) if (spatial(chain[i].outputShape as (number | null)[])) cut = i
  if (cut < 0 || cut === chain.length - 1) return null
  const run = (a: tf.Tensor, from: number, to: number) => {
    let y = a
    for (let i = from; i < to; i++) y = chain[i].apply(y, { training: false }) as tf.Tensor
    return y
  }
  return { features: (x) => run(x, 0, cut + 1), rest: (a) => run(a, cut + 1, chain.length) }
}

/** What the studio shows: Grad-CAM where the model allows it, else SmoothGrad's gradient map. */
export function explanationMap(run: RunModel, pixels: Uint8Array): SaliencyMap & { method: 'grad-cam' | 'smoothgrad' } {
  const cam = gradCamMap(run, pixels)
  if (cam) return { ...cam, method: 'grad-cam' }
  return { ...saliencyMap(run, pixels, undefined, SMOOTHGRAD), method: 'smoothgrad' }
}
