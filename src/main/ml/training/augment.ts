import * as tf from '@tensorflow/tfjs'
import { augmentEnabled, type AugmentSpec } from '../../../shared/training'
import { mulberry32 } from './rng'

/**
 * Random augmentation with TF ops, applied to the training split only. Images are float32
 * [N,H,W,C] in the 0..255 range (before the base's preprocess_input). Geometry (flip, rotation,
 * zoom, shift) is one projective transform per image (tf.image.transform, bilinear, 'reflect'
 * fill as Keras's RandomRotation/RandomZoom/RandomTranslation); brightness adds a random
 * offset of up to factor*255 and clips to 0..255 (Keras RandomBrightness).
 * The same seed gives the same augmentation.
 */
export function augmentBatch(x: tf.Tensor4D, spec: AugmentSpec | undefined, seed: number): tf.Tensor4D {
  if (!augmentEnabled(spec)) return x.clone()
  const a = spec!
  const [n, h, w] = x.shape
  const r = mulberry32(seed)
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * r()
  const geometric = !!(a.flip || a.rotate || a.zoom || a.shiftX || a.shiftY)
  return tf.tidy(() => {
    let out: tf.Tensor4D = x
    if (geometric) {
      const mats = new Float32Array(n * 8)
      const cx = (w - 1) / 2
      const cy = (h - 1) / 2
      for (let i = 0; i < n; i++) {
        // Output pixel (x, y) samples input at c + A (p - c) - t, A = rotation * zoom * flip.
        const fx = (a.flip === 'horizontal' || a.flip === 'both') && r() < 0.5 ? -1 : 1
        const fy = (a.flip === 'vertical' || a.flip === 'both') && r() < 0.5 ? -1 : 1
        const theta = a.rotate ? (uniform(-a.rotate, a.rotate) * Math.PI) / 180 : 0
        const zoom = a.zoom ? uniform(1 - a.zoom, 1 + a.zoom) : 1
        const tx = a.shiftX ? uniform(-a.shiftX, a.shiftX) * w : 0
        const ty = a.shiftY ? uniform(-a.shiftY, a.shiftY) * h : 0
        const cos = Math.cos(theta)
        const sin = Math.sin(theta)
        const a00 = cos * zoom * fx
        const a01 = -sin * zoom * fy
        const a10 = sin * zoom * fx
        const a11 = cos * zoom * fy
        const o = i * 8
        mats[o] = a00
        mats[o + 1] = a01
        mats[o + 2] = cx - a00 * cx - a01 * cy - tx
        mats[o + 3] = a10
        mats[o + 4] = a11
        mats[o + 5] = cy - a10 * cx - a11 * cy - ty
        mats[o + 6] = 0
        mats[o + 7] = 0
      }
      // One image per call: TF.js 4.22's Transform kernel returns after the first image of a
      // batch (the rest stay at the fill value), so a batched call would blank images 2..n.
      const src = out
      const parts = Array.from({ length: n }, (_, i) =>
        tf.image.transform(tf.slice(src, [i, 0, 0, 0], [1, h, w, src.shape[3]]), tf.tensor2d(mats.subarray(i * 8, i * 8 + 8), [1, 8]), 'bilinear', 'reflect'),
      )
      out = n === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor4D)
    }
    if (a.brightness) {
      const deltas = new Float32Array(n)
      for (let i = 0; i < n; i++) deltas[i] = uniform(-a.brightness, a.brightness) * 255
      out = tf.clipByValue(tf.add(out, tf.tensor4d(deltas, [n, 1, 1, 1])), 0, 255) as tf.Tensor4D
    }
    return out === x ? x.clone() : out
  })
}
