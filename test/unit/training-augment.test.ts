import * as tf from '@tensorflow/tfjs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { augmentBatch } from '../../src/main/ml/training/augment'
import { augmentPreview } from '../../src/main/services/training/preview'
import { bandsDataset } from './training-fixtures'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

function batch(n = 6, h = 9, w = 7, c = 3): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(tf.randomUniform([n, h, w, c], 0, 1, 'float32', 11), 150), 50) as tf.Tensor4D)
}

describe('augmentBatch', () => {
  it('flip: every image is either unchanged or exactly tf.image.flipLeftRight of itself, and both happen', async () => {
    const x = batch(16)
    const before = tf.memory().numTensors
    const y = augmentBatch(x, { flip: 'horizontal' }, 3)
    const flipped = tf.image.flipLeftRight(x)
    const [xa, ya, fa] = await Promise.all([x.array(), y.array(), flipped.array()])
    let same = 0
    let mirrored = 0
    for (let i = 0; i < 16; i++) {
      const eq = (a: number[][][], b: number[][][]) => a.every((row, r) => row.every((px, cc) => px.every((v, k) => Math.abs(v - b[r][cc][k]) < 1e-3)))
      if (eq(ya[i], xa[i])) same++
      else if (eq(ya[i], fa[i])) mirrored++
    }
    expect(same + mirrored).toBe(16)
    expect(same).toBeGreaterThan(0)
    expect(mirrored).toBeGreaterThan(0)
    tf.dispose([y, flipped])
    expect(tf.memory().numTensors).toBe(before)
    x.dispose()
  })

  it('vertical flip mirrors rows', async () => {
    const x = batch(12)
    const y = augmentBatch(x, { flip: 'vertical' }, 5)
    const v = tf.reverse(x, 1)
    const [ya, va, xa] = await Promise.all([y.array(), v.array(), x.array()])
    const close = (a: number[][][], b: number[][][]) => a.flat(2).every((val, i) => Math.abs(val - b.flat(2)[i]) < 1e-3)
    expect(ya.every((img, i) => close(img, va[i]) || close(img, xa[i]))).toBe(true)
    expect(ya.some((img, i) => close(img, va[i]) && !close(img, xa[i]))).toBe(true)
    tf.dispose([x, y, v])
  })

  it('brightness adds one offset per image within ±factor*255 and clips to 0..255', async () => {
    const x = batch(8)
    const y = augmentBatch(x, { brightness: 0.1 }, 9)
    const d = (await tf.sub(y, x).array()) as number[][][][]
    for (const img of d) {
      const vals = img.flat(2)
      expect(Math.max(...vals) - Math.min(...vals)).toBeLessThan(1e-3)
      expect(Math.abs(vals[0])).toBeLessThanOrEqual(25.5 + 1e-3)
    }
    const big = augmentBatch(x, { brightness: 1 }, 1)
    const [lo, hi] = [await big.min().data(), await big.max().data()]
    expect(lo[0]).toBeGreaterThanOrEqual(0)
    expect(hi[0]).toBeLessThanOrEqual(255)
    tf.dispose([x, y, big])
  })

  it('rotation/zoom/shift keep the shape, are repeatable per seed and differ across seeds', async () => {
    const x = batch(4, 16, 16, 1)
    const spec = { rotate: 30, zoom: 0.2, shiftX: 0.1, shiftY: 0.1 }
    const a = await augmentBatch(x, spec, 1).data()
    const b = await augmentBatch(x, spec, 1).data()
    const c = await augmentBatch(x, spec, 2).data()
    expect(Array.from(a)).toEqual(Array.from(b))
    expect(Array.from(a)).not.toEqual(Array.from(c))
    expect(a.length).toBe(4 * 16 * 16)
    x.dispose()
  })
})

describe('augmentPreview', () => {
  it('returns the originals, their augmented variants and one grid PNG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-augprev-'))
    try {
      const data = bandsDataset({ size: 8, channels: 3 })
      const p = await augmentPreview(dir, 3, { augment: 'flip,rotate=10', variants: 2, data })
      expect(p.items).toHaveLength(3)
      expect(p.items[0].augmented).toHaveLength(2)
      const meta = await sharp(Buffer.from(p.grid)).metadata()
      expect([meta.width, meta.height]).toEqual([8 * 3, 8 * 3])
      expect(p.augment).toEqual({ flip: 'horizontal', rotate: 10 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
