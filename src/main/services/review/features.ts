import * as tf from '@tensorflow/tfjs'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { BaseName } from '../../../shared/training'
import { createFeatureExtractor, type FeatureExtractor } from '../../ml/backend'
import { applyPreprocess, buildBase } from '../../ml/models'
import { truncateBase } from '../../ml/models/transfer'
import { loadBaseWeights, preprocessForWeights } from '../../ml/training/base-weights'
import type { DataSource, RawBatch } from '../../ml/training/data'
import { ensureFeatureCache, featureCacheKey } from '../../ml/training/feature-cache'
import { resolveBaseCut } from '../../ml/training/recipes'
import { readItems, type DatasetIndex } from '../datasets'
import { effectiveSpec } from '../models'

export interface ReviewFeatures {
  /** ids.length x dim, row-major, in the order of `ids`. */
  x: Float32Array
  dim: number
  ids: Int32Array
  /** Where they came from, in plain words. */
  source: string
}

export interface FeatureControl {
  signal?: AbortSignal
  onProgress?: (done: number, total: number) => void
}

/** MobileNetV2 takes 96-224 px; other sizes are resized to the nearest it takes. */
const baseSize = (name: BaseName, size: number) => (name === 'mobilenetv2' ? Math.min(224, Math.max(96, size)) : Math.max(32, size))

/** The usable images (every split) as one stream, labels left out: the features do not depend on them. */
function itemsSource(dir: string, idx: DatasetIndex, ids: Int32Array): DataSource {
  const s = idx.settings
  const fp = createHash('sha256')
  for (const id of ids) fp.update(`${id}:${idx.items[id].hash};`)
  const fingerprint = fp.digest('hex').slice(0, 16)
  return {
    classNames: idx.classes,
    imageShape: [s.inputSize, s.inputSize, s.channels],
    labels: async () => new Int32Array(ids.length),
    fingerprint: async () => fingerprint,
    async *batches(_split, o): AsyncGenerator<RawBatch> {
      for (let at = 0; at < ids.length; at += o.batchSize) {
        const b = await readItems(dir, ids.subarray(at, at + o.batchSize))
        yield { ...b, labels: new Int32Array(b.labels.length) }
      }
    },
  }
}

/** The project's transfer base with its weights, or the built-in MobileNetV2 for CNN projects (or when the base's weights are missing). */
async function loadBase(dir: string, size: number): Promise<{ name: BaseName; base: tf.LayersModel; weights: string; note: string }> {
  const spec = await effectiveSpec(dir)
  const wanted: BaseName = spec?.type === 'transfer' ? spec.base : 'mobilenetv2'
  const why = spec?.type === 'transfer' ? 'the project\'s transfer base' : 'the built-in MobileNetV2 (the project trains a CNN from scratch, so it has no pretrained base of its own)'
  const tryLoad = async (name: BaseName) => {
    const base = buildBase(name, { inputSize: baseSize(name, size) })
    try {
      return { base, weights: await loadBaseWeights(base, name, undefined, () => undefined) }
    } catch (err) {
      base.dispose()
      throw err
    }
  }
  try {
    const { base, weights } = await tryLoad(wanted)
    return { name: wanted, base, weights, note: `${wanted === 'vgg16' ? 'VGG16' : 'MobileNetV2'} features (${why})` }
  } catch (err) {
    if (wanted === 'mobilenetv2' || (err as { code?: string }).code !== 'NOT_FOUND') throw err
    const { base, weights } = await tryLoad('mobilenetv2')
    return { name: 'mobilenetv2', base, weights, note: 'built-in MobileNetV2 features (the VGG16 weights are not downloaded)' }
  }
}

/**
 * Pooled base features of every usable image, computed once and cached like training's
 * (<P>/cache/review/cache/features-<key>: apart from training's caches so neither evicts the
 * other); the key leaves labels out, so relabelling or excluding costs no recomputation
 * unless the set of images changes.
 */
export async function reviewFeatures(dir: string, idx: DatasetIndex, ids: Int32Array, ctl: FeatureControl = {}): Promise<ReviewFeatures> {
  const size = idx.settings.inputSize
  const loaded = await loadBase(dir, size)
  const cut = resolveBaseCut('auto', loaded.weights, loaded.base)
  const base = cut ? truncateBase(loaded.base, cut) : loaded.base
  const preprocess = preprocessForWeights(loaded.name, loaded.weights)
  const data = itemsSource(dir, idx, ids)
  const inner = baseSize(loaded.name, size)
  const key = featureCacheKey({ review: 1, base: loaded.name, weights: loaded.weights, cut, preprocess, size, inner, data: await data.fingerprint() })
  let extractor: FeatureExtractor | null = null
  try {
    const cache = await ensureFeatureCache({
      projectDir: join(dir, 'cache', 'review'),
      key,
      data,
      splits: ['train'],
      batchSize: 32,
      signal: ctl.signal,
      onProgress: ctl.onProgress,
      extract: async (x) => {
        extractor ??= await createFeatureExtractor(base)
        const pre = tf.tidy(() => {
          const p = applyPreprocess(x, preprocess, 3)
          return inner === size ? p : tf.image.resizeBilinear(p, [inner, inner])
        })
        const pixels = (await pre.data()) as Float32Array
        pre.dispose()
        const n = x.shape[0]
        const maps = await extractor.extract(pixels, n)
        return tf.tidy(() => tf.mean(tf.tensor4d(maps, [n, ...(extractor!.outputShape as [number, number, number])]), [1, 2]) as tf.Tensor2D)
      },
    })
    const buf = await readFile(join(cache.dir, 'train.f32'))
    const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))
    return { x, dim: cache.meta.dim, ids, source: `${loaded.note}${cut ? `, cut at ${cut}` : ''}` }
  } finally {
    await (extractor as FeatureExtractor | null)?.dispose()
    base.dispose()
  }
}
