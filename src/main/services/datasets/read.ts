import sharp from 'sharp'
import { AppError } from '../../../shared/errors'
import type { Split } from '../../../shared/project'
import { ChunkReader, loadDatasetIndex, loadDatasetIndexShared, saveDatasetIndex, type DatasetIndex } from './cache'
import { withDatasetLock } from './import'
import { shuffleInPlace } from './split'

export interface Batch {
  ids: Int32Array
  labels: Int32Array
  /** n*h*w*c uint8, HWC per item. */
  x: Uint8Array
  shape: [number, number, number, number]
}

export interface BatchOptions {
  batchSize: number
  shuffle?: boolean
  seed?: number
  /** Mixed into the seed: same seed + epoch gives the same order. */
  epoch?: number
  /** Drop the last batch when it is smaller than batchSize. */
  dropRemainder?: boolean
}

/** The index, shared read-only copy unless the caller will change it (`forUpdate`). */
async function requireIndex(projectDir: string, forUpdate = false): Promise<DatasetIndex> {
  const idx = forUpdate ? await loadDatasetIndex(projectDir) : await loadDatasetIndexShared(projectDir)
  if (!idx || idx.items.length === 0) throw new AppError('NOT_FOUND', `The project at ${projectDir} has no images yet.`, 'Import a folder of images first.')
  return idx
}

/** Ids of the usable (not excluded, not stale) items of a split, in id order. */
export function splitIds(idx: DatasetIndex, split: Split): Int32Array {
  const out: number[] = []
  for (const it of idx.items) if (it.split === split && !it.excluded && !it.stale) out.push(it.id)
  return Int32Array.from(out)
}

/**
 * Streams a split from the chunk files, one batch in memory at a time. With shuffle the order
 * is a seeded permutation (seed + epoch), so runs are reproducible.
 */
export async function* batches(projectDir: string, split: Split, opts: BatchOptions): AsyncGenerator<Batch> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new AppError('INVALID_INPUT', `batchSize must be a positive integer, got ${opts.batchSize}.`)
  const idx = await requireIndex(projectDir)
  const ids = splitIds(idx, split)
  if (opts.shuffle) shuffleInPlace(ids, ((opts.seed ?? 42) * 1000003 + (opts.epoch ?? 0) * 7919) >>> 0)
  const s = idx.settings
  const reader = new ChunkReader(projectDir, idx)
  try {
    for (let at = 0; at < ids.length; at += opts.batchSize) {
      const bIds = ids.subarray(at, Math.min(ids.length, at + opts.batchSize))
      if (opts.dropRemainder && bIds.length < opts.batchSize) break
      const items = Array.from(bIds, (i) => idx.items[i])
      const x = new Uint8Array(items.length * idx.itemBytes)
      await reader.readInto(items, x)
      yield { ids: Int32Array.from(bIds), labels: Int32Array.from(items, (it) => it.label), x, shape: [items.length, s.inputSize, s.inputSize, s.channels] }
    }
  } finally {
    await reader.close()
  }
}

/** Reads given items (any split, excluded ones too) from the cache. */
export async function readItems(projectDir: string, ids: ArrayLike<number>): Promise<Batch> {
  const idx = await requireIndex(projectDir)
  const items = Array.from(ids, (i) => {
    const it = idx.items[i]
    if (!it) throw new AppError('NOT_FOUND', `No dataset item with id ${i} (the dataset has ids 0..${idx.items.length - 1}).`)
    return it
  })
  const reader = new ChunkReader(projectDir, idx)
  const x = new Uint8Array(items.length * idx.itemBytes)
  try {
    await reader.readInto(items, x)
  } finally {
    await reader.close()
  }
  const s = idx.settings
  return { ids: Int32Array.from(ids), labels: Int32Array.from(items, (it) => it.label), x, shape: [items.length, s.inputSize, s.inputSize, s.channels] }
}

/** A PNG thumbnail of an item, made from the cached pixels (what the model sees). */
export async function thumbnail(projectDir: string, id: number, size = 96): Promise<Buffer> {
  const { x, shape } = await readItems(projectDir, [id])
  const [, h, w, c] = shape
  let img = sharp(x, { raw: { width: w, height: h, channels: c as 1 | 3 } })
  if (w > size) img = img.resize(size, size, { kernel: 'linear' })
  return img.png({ compressionLevel: 3 }).toBuffer()
}

/** Marks items as excluded from training/evaluation (or brings them back). Returns how many changed. */
export async function setExcluded(projectDir: string, ids: ArrayLike<number>, excluded: boolean): Promise<number> {
  return withDatasetLock(projectDir, async () => {
    const idx = await requireIndex(projectDir, true)
    let changed = 0
    for (const i of Array.from(ids)) {
      const it = idx.items[i]
      if (!it) throw new AppError('NOT_FOUND', `No dataset item with id ${i} (the dataset has ids 0..${idx.items.length - 1}).`)
      if (!!it.excluded !== excluded) {
        changed++
        if (excluded) it.excluded = true
        else delete it.excluded
      }
    }
    if (changed) await saveDatasetIndex(projectDir, idx)
    return changed
  })
}
