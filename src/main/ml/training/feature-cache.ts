import * as tf from '@tensorflow/tfjs'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { Split } from '../../../shared/project'
import { writeFileSynced } from '../../platform/fs-atomic'
import type { DataSource } from './data'
import type { ReadyBatch } from './loop'
import { seededPermutation } from './rng'

/**
 * The transfer-learning fast path (Teachable Machine's cached-embedding recipe): the frozen
 * base's pooled features are computed once per image and stored in
 * <P>/cache/features-<key>/<split>.f32 (N x dim float32, rows in the split's order) with
 * <split>.labels (int32). The key hashes the base, its weights, the preprocessing, the image
 * shape, the cut of the base and the dataset fingerprint, so any change computes a new cache; the
 * newest KEEP_FEATURE_CACHES are kept (switching between a few cuts or weights recomputes nothing),
 * older ones are removed.
 * meta.json is written last: a cache without it is incomplete and is recomputed.
 */

export interface FeatureCacheMeta {
  key: string
  dim: number
  counts: Partial<Record<Split, number>>
  createdAt: string
  seconds: number
}

/** How many feature caches a project keeps (each is N x dim float32: 15 MB for 3,000 images at 1280). */
export const KEEP_FEATURE_CACHES = 3

export function featureCacheKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16)
}

export function featureCacheDir(projectDir: string, key: string): string {
  return join(projectDir, 'cache', `features-${key}`)
}

export async function readFeatureCacheMeta(dir: string): Promise<FeatureCacheMeta | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as FeatureCacheMeta
  } catch {
    return null
  }
}

export interface BuildCacheOptions {
  projectDir: string
  key: string
  data: DataSource
  splits: Split[]
  batchSize: number
  /** uint8 NHWC batch -> pooled features [n, dim] (inference mode). Must not dispose its input. */
  extract: (x: tf.Tensor4D) => tf.Tensor2D | Promise<tf.Tensor2D>
  signal?: AbortSignal
  log?: (m: string) => void
  onProgress?: (done: number, total: number) => void
}

/** Returns the cache folder, computing it first when absent or incomplete. */
export async function ensureFeatureCache(o: BuildCacheOptions): Promise<{ dir: string; meta: FeatureCacheMeta; computed: boolean }> {
  const dir = featureCacheDir(o.projectDir, o.key)
  const have = await readFeatureCacheMeta(dir)
  if (have && have.key === o.key) return { dir, meta: have, computed: false }
  const cacheRoot = join(o.projectDir, 'cache')
  await mkdir(cacheRoot, { recursive: true })
  // Drop leftovers of interrupted builds, and older feature caches beyond the newest
  // KEEP_FEATURE_CACHES - 1 (other cuts or weights of the same images stay cheap to train on).
  const complete: { name: string; time: number }[] = []
  for (const e of await readdir(cacheRoot).catch(() => [] as string[])) {
    if (e.startsWith('.features-')) await rm(join(cacheRoot, e), { recursive: true, force: true })
    else if (e.startsWith('features-')) {
      const meta = await readFeatureCacheMeta(join(cacheRoot, e))
      if (!meta) await rm(join(cacheRoot, e), { recursive: true, force: true })
      else complete.push({ name: e, time: Date.parse(meta.createdAt) || 0 })
    }
  }
  complete.sort((a, b) => b.time - a.time)
  for (const old of complete.slice(KEEP_FEATURE_CACHES - 1)) await rm(join(cacheRoot, old.name), { recursive: true, force: true })
  const tmp = join(cacheRoot, `.features-${o.key}.tmp-${randomBytes(4).toString('hex')}`)
  await mkdir(tmp, { recursive: true })
  const t0 = performance.now()
  const counts: Partial<Record<Split, number>> = {}
  let dim = 0
  let total = 0
  for (const s of o.splits) total += (await o.data.labels(s)).length
  let done = 0
  try {
    for (const split of o.splits) {
      const fh = await open(join(tmp, `${split}.f32`), 'w')
      const lh = await open(join(tmp, `${split}.labels`), 'w')
      let n = 0
      try {
        for await (const b of o.data.batches(split, { batchSize: o.batchSize, shuffle: false, seed: 0 })) {
          if (o.signal?.aborted) throw new DOMException('Feature extraction was cancelled.', 'AbortError')
          const xt = tf.tensor4d(b.x, b.shape, 'int32')
          let feats: Float32Array
          try {
            const f = await o.extract(xt as tf.Tensor4D)
            dim = f.shape[1]
            feats = (await f.data()) as Float32Array
            f.dispose()
          } finally {
            xt.dispose()
          }
          await fh.write(new Uint8Array(feats.buffer, feats.byteOffset, feats.byteLength))
          await lh.write(new Uint8Array(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength))
          n += b.labels.length
          done += b.labels.length
          o.onProgress?.(done, total)
        }
        await fh.sync()
        await lh.sync()
      } finally {
        await fh.close()
        await lh.close()
      }
      counts[split] = n
    }
    const meta: FeatureCacheMeta = { key: o.key, dim, counts, createdAt: new Date().toISOString(), seconds: (performance.now() - t0) / 1000 }
    await writeFileSynced(join(tmp, 'meta.json'), JSON.stringify(meta))
    await rename(tmp, dir)
    o.log?.(`Computed base features for ${done} images in ${meta.seconds.toFixed(1)} s (${(done / Math.max(1e-6, meta.seconds)).toFixed(1)} img/s); cached in ${dir}.`)
    return { dir, meta, computed: true }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}

/** Reads cached feature rows in (seeded) random order, one batch at a time; memory = one batch. */
export async function* cachedBatches(dir: string, split: Split, meta: FeatureCacheMeta, batchSize: number, shuffleSeed: number | null): AsyncGenerator<ReadyBatch> {
  const n = meta.counts[split] ?? 0
  if (n === 0) return
  const rowBytes = meta.dim * 4
  const labelsBuf = await readFile(join(dir, `${split}.labels`))
  const labels = new Int32Array(labelsBuf.buffer.slice(labelsBuf.byteOffset, labelsBuf.byteOffset + labelsBuf.byteLength))
  const order = shuffleSeed == null ? Int32Array.from({ length: n }, (_, i) => i) : seededPermutation(n, shuffleSeed)
  let fh: FileHandle | null = await open(join(dir, `${split}.f32`), 'r')
  try {
    for (let start = 0; start < n; start += batchSize) {
      const idx = order.subarray(start, Math.min(n, start + batchSize))
      const buf = new Float32Array(idx.length * meta.dim)
      const bytes = new Uint8Array(buf.buffer)
      const lab = new Int32Array(idx.length)
      if (shuffleSeed == null) {
        await fh.read(bytes, 0, bytes.byteLength, idx[0] * rowBytes)
        idx.forEach((j, k) => (lab[k] = labels[j]))
      } else {
        await Promise.all(
          Array.from(idx, (j, k) => {
            lab[k] = labels[j]
            return fh!.read(bytes, k * rowBytes, rowBytes, j * rowBytes)
          }),
        )
      }
      yield { x: tf.tensor2d(buf, [idx.length, meta.dim]), labels: lab }
    }
  } finally {
    await fh.close()
    fh = null
  }
}
