import type { Split } from '../../../shared/project'
import { seededPermutation } from './rng'

/** One batch of images as stored in the import cache: uint8 pixels, NHWC. */
export interface RawBatch {
  ids: Int32Array
  labels: Int32Array
  x: Uint8Array
  shape: [number, number, number, number]
}

export interface BatchOptions {
  batchSize: number
  shuffle: boolean
  seed: number
}

/**
 * What training consumes from a dataset. The project adapter (services/training/project-data.ts)
 * wraps the datasets service; tests use InMemoryDataSource.
 */
export interface DataSource {
  classNames: string[]
  /** [height, width, channels] of every image. */
  imageShape: [number, number, number]
  /** Labels of a split, in the order `batches(split, {shuffle:false})` yields them. */
  labels(split: Split): Promise<Int32Array>
  batches(split: Split, opts: BatchOptions): AsyncGenerator<RawBatch>
  /** Changes whenever the images, labels, splits or import settings change (feature-cache key). */
  fingerprint(): Promise<string>
}

export interface InMemorySplit {
  x: Uint8Array
  labels: Int32Array
}

/** A DataSource over arrays (tests, generated datasets). Seeded shuffle per call. */
export class InMemoryDataSource implements DataSource {
  constructor(
    readonly classNames: string[],
    readonly imageShape: [number, number, number],
    private readonly splits: Partial<Record<Split, InMemorySplit>>,
    private readonly tag = 'memory',
  ) {}

  async labels(split: Split): Promise<Int32Array> {
    return this.splits[split]?.labels ?? new Int32Array(0)
  }

  async *batches(split: Split, opts: BatchOptions): AsyncGenerator<RawBatch> {
    const s = this.splits[split]
    if (!s) return
    const n = s.labels.length
    const [h, w, c] = this.imageShape
    const per = h * w * c
    const order = opts.shuffle ? seededPermutation(n, opts.seed) : Int32Array.from({ length: n }, (_, i) => i)
    for (let start = 0; start < n; start += opts.batchSize) {
      const idx = order.subarray(start, Math.min(n, start + opts.batchSize))
      const x = new Uint8Array(idx.length * per)
      const labels = new Int32Array(idx.length)
      idx.forEach((j, k) => {
        x.set(s.x.subarray(j * per, (j + 1) * per), k * per)
        labels[k] = s.labels[j]
      })
      yield { ids: Int32Array.from(idx), labels, x, shape: [idx.length, h, w, c] }
    }
  }

  async fingerprint(): Promise<string> {
    let h = 2166136261
    for (const split of ['train', 'validation', 'test'] as const) {
      const s = this.splits[split]
      if (!s) continue
      for (let i = 0; i < s.x.length; i += 97) h = Math.imul(h ^ s.x[i], 16777619) >>> 0
      for (let i = 0; i < s.labels.length; i++) h = Math.imul(h ^ s.labels[i], 16777619) >>> 0
      h = Math.imul(h ^ s.labels.length, 16777619) >>> 0
    }
    return `${this.tag}-${this.imageShape.join('x')}-${h.toString(16)}`
  }
}
