import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Progress } from '../../../shared/contract'
import type { NearDuplicatePair, NearDuplicateReport } from '../../../shared/review'
import { writeFileAtomic } from '../../platform/fs-atomic'
import { loadDatasetIndexShared, type DatasetIndex } from './cache'
import { activeItems } from './health'
import { acCosine, acVectors, hamming, hashWords, perceptualSignature } from './phash'
import { readItems } from './read'

/**
 * A near-duplicate pair: pHashes at most NEAR_DUPLICATE_MAX_DISTANCE bits apart and low-frequency
 * DCT coefficients with a cosine of at least NEAR_DUPLICATE_MIN_COSINE. Calibrated on the cached
 * 224 px pixels (squash import): copies resized to half size, recompressed at JPEG q=60 or cropped
 * by 5 % of their area land at most 8 bits apart (cosine >= 0.932) on flowers-subset (159) and 10
 * bits (cosine >= 0.936) on 300 cats-vs-dogs validation photos, while the closest two different
 * originals are 12 and 14 bits apart. The cosine drops the pairs plain images (one shape on a flat
 * background) make by sharing a layout only: 16 such pairs within 10 bits among 72 generated
 * shapes had cosines from 0.82 up, a square and a triangle among them.
 */
export const NEAR_DUPLICATE_MAX_DISTANCE = 10
export const NEAR_DUPLICATE_MIN_COSINE = 0.9

/** How many pairs a report lists. */
export const NEAR_DUPLICATE_PAIRS_MAX = 200

const cacheFile = (dir: string) => join(dir, 'cache', 'perceptual.json')

/** Content hash -> perceptual signature, kept in <P>/cache/perceptual.json so each image is hashed once. */
async function readHashCache(dir: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(cacheFile(dir), 'utf8')) as Record<string, string>
  } catch {
    return {}
  }
}

/** The signature of every item, computing the missing ones from the cached pixels. */
async function itemHashes(dir: string, idx: DatasetIndex, ids: number[], onProgress?: (p: Progress) => void): Promise<string[]> {
  const cache = await readHashCache(dir)
  const missing = ids.filter((id) => !cache[idx.items[id].hash])
  const s = idx.settings
  for (let at = 0; at < missing.length; at += 64) {
    const chunk = missing.slice(at, at + 64)
    const b = await readItems(dir, chunk)
    for (let k = 0; k < chunk.length; k++) {
      const px = b.x.subarray(k * idx.itemBytes, (k + 1) * idx.itemBytes)
      cache[idx.items[chunk[k]].hash] = await perceptualSignature(px, s.inputSize, s.inputSize, s.channels)
    }
    onProgress?.({ phase: 'hash', done: Math.min(missing.length, at + 64), total: missing.length })
  }
  if (missing.length) await writeFileAtomic(cacheFile(dir), JSON.stringify(cache))
  return ids.map((id) => cache[idx.items[id].hash])
}

/**
 * Pairs of usable images whose perceptual hashes are within NEAR_DUPLICATE_MAX_DISTANCE bits
 * but whose contents differ (exact copies are counted as duplicates already), counted within
 * and across splits.
 */
export async function nearDuplicates(dir: string, onProgress?: (p: Progress) => void): Promise<NearDuplicateReport> {
  const t0 = performance.now()
  const idx = await loadDatasetIndexShared(dir)
  if (!idx) return { threshold: NEAR_DUPLICATE_MAX_DISTANCE, minCosine: NEAR_DUPLICATE_MIN_COSINE, withinSplit: 0, crossSplit: 0, pairs: [], seconds: 0 }
  const items = activeItems(idx)
  const signatures = await itemHashes(dir, idx, items.map((it) => it.id), onProgress)
  const words = hashWords(signatures)
  const ac = acVectors(signatures)
  const found: { a: number; b: number; distance: number; cosine: number; cross: boolean }[] = []
  for (let a = 0; a < items.length; a++)
    for (let b = a + 1; b < items.length; b++) {
      if (items[a].hash === items[b].hash) continue
      const distance = hamming(words, a, b)
      if (distance > NEAR_DUPLICATE_MAX_DISTANCE) continue
      const cosine = acCosine(ac, a, b)
      if (cosine >= NEAR_DUPLICATE_MIN_COSINE) found.push({ a, b, distance, cosine, cross: items[a].split !== items[b].split })
    }
  found.sort((x, y) => Number(y.cross) - Number(x.cross) || x.distance - y.distance || x.a - y.a || x.b - y.b)
  const side = (i: number) => ({ id: items[i].id, src: items[i].src, split: items[i].split, label: idx.classes[items[i].label] })
  const crossSplit = found.filter((p) => p.cross).length
  return {
    threshold: NEAR_DUPLICATE_MAX_DISTANCE,
    minCosine: NEAR_DUPLICATE_MIN_COSINE,
    withinSplit: found.length - crossSplit,
    crossSplit,
    pairs: found.slice(0, NEAR_DUPLICATE_PAIRS_MAX).map((p): NearDuplicatePair => ({ a: side(p.a), b: side(p.b), distance: p.distance, cosine: p.cosine })),
    seconds: (performance.now() - t0) / 1000,
  }
}
