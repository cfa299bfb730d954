import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { AppError } from '../../../shared/errors'
import { parseAugment, type AugmentSpec } from '../../../shared/training'
import { augmentBatch } from '../../ml/training/augment'
import type { DataSource } from '../../ml/training/data'

export interface AugmentPreview {
  /** n rows: the original training image and `variants` augmented versions, as PNGs. */
  items: { id: number; label: string; original: Uint8Array; augmented: Uint8Array[] }[]
  /** All of it as one PNG grid (rows = images, first column = original). */
  grid: Uint8Array
  augment: AugmentSpec
}

async function png(px: Uint8Array, h: number, w: number, c: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: c as 1 | 3 } }).png({ compressionLevel: 3 }).toBuffer())
}

/**
 * Augmented samples of the training split, for the Train view's preview grid: `n` images
 * picked with the seed, each shown as-is and with `variants` random augmentations.
 */
export async function augmentPreview(
  projectDir: string,
  n = 6,
  opts: { augment?: AugmentSpec | string; variants?: number; seed?: number; data?: DataSource } = {},
): Promise<AugmentPreview> {
  const spec = typeof opts.augment === 'string' ? parseAugment(opts.augment) : (opts.augment ?? parseAugment('flip,rotate=15,zoom=0.1'))
  const variants = Math.max(1, Math.min(16, opts.variants ?? 4))
  const seed = opts.seed ?? 1
  const data = opts.data ?? (await (await import('./project-data')).projectDataSource(projectDir))
  const it = data.batches('train', { batchSize: Math.max(1, Math.min(64, n)), shuffle: true, seed })
  const first = await it.next()
  await it.return(undefined)
  if (first.done || !first.value) throw new AppError('NOT_FOUND', 'The training split is empty: nothing to preview.', 'Import a folder of images first (one sub-folder per class), with some of them in the training split.')
  const b = first.value
  const [count, h, w, c] = b.shape
  const per = h * w * c
  const rows: AugmentPreview['items'] = []
  const gridPx = new Uint8Array(count * h * (variants + 1) * w * c)
  const rowStride = (variants + 1) * w * c
  const put = (img: Uint8Array, row: number, col: number) => {
    for (let y = 0; y < h; y++) gridPx.set(img.subarray(y * w * c, (y + 1) * w * c), (row * h + y) * rowStride + col * w * c)
  }
  const x = tf.tensor4d(b.x, b.shape, 'float32')
  try {
    const outs: Uint8Array[] = []
    for (let v = 0; v < variants; v++) {
      const a = augmentBatch(x, spec, seed * 1000 + v)
      const u8 = tf.tidy(() => tf.cast(tf.round(a), 'int32'))
      outs.push(Uint8Array.from(await u8.data()))
      tf.dispose([a, u8])
    }
    for (let i = 0; i < count; i++) {
      const orig = b.x.subarray(i * per, (i + 1) * per)
      put(orig, i, 0)
      const aug: Uint8Array[] = []
      for (let v = 0; v < variants; v++) {
        const img = outs[v].subarray(i * per, (i + 1) * per)
        put(img, i, v + 1)
        aug.push(await png(img, h, w, c))
      }
      rows.push({ id: b.ids[i], label: data.classNames[b.labels[i]] ?? String(b.labels[i]), original: await png(orig, h, w, c), augmented: aug })
    }
  } finally {
    x.dispose()
  }
  return { items: rows, grid: await png(gridPx, count * h, (variants + 1) * w, c), augment: spec }
}
