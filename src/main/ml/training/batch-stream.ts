import * as tf from '@tensorflow/tfjs'
import { totalmem } from 'node:os'
import type { PreprocessSpec } from '../../../shared/models'
import { augmentEnabled, formatAugment, type TrainEvent, type TrainOptions } from '../../../shared/training'
import { applyPreprocess } from '../models'
import { createFeatureExtractor, type FeatureExtractor } from '../backend'
import { augmentBatch } from './augment'
import type { Built } from './build-model'
import type { DataSource, RawBatch } from './data'
import { cachedBatches, ensureFeatureCache, featureCacheKey } from './feature-cache'
import { splitAtFrozenBottom, type FrozenSplit } from './frozen-split'
import type { BatchStream, ReadyBatch } from './loop'
import { pooledHead } from './recipes'
import { deriveSeed } from './rng'

/** Activation floats of one image through every layer (nested bases included). */
function activationsPerImage(model: tf.LayersModel): number {
  let n = 0
  for (const l of model.layers) {
    const inner = (l as unknown as { layers?: unknown }).layers
    if (Array.isArray(inner)) {
      n += activationsPerImage(l as unknown as tf.LayersModel)
      continue
    }
    const shape = l.outputShape as (number | null)[] | (number | null)[][]
    for (const sh of (Array.isArray(shape[0]) ? shape : [shape]) as (number | null)[][]) n += sh.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1)
  }
  return n
}

/**
 * The largest batch whose training step fits the wasm memory (4 GiB, wasm32): TF.js keeps every
 * activation of the step, measured at about 6x the forward activations (MobileNetV2 at 160 px:
 * ~255 MiB per image, so batch 32 fails with "memory access out of bounds" and 14 fits). Each of
 * `threads` training threads has its own wasm memory and steps only its slice of the batch, so the
 * cap grows with them, while all of them together stay within half of the machine's memory.
 */
export function wasmBatchCap(model: tf.LayersModel, threads = 1, machineBytes = totalmem()): number {
  const perThread = Math.min(3.5 * 2 ** 30, machineBytes / 2 / threads)
  return Math.max(1, Math.floor(perThread / (6 * 4 * activationsPerImage(model)))) * threads
}

/** What the batch stream allocates, set as soon as it exists so the caller disposes it whatever fails next. */
export interface StreamOwned {
  /** The trained head on cached base features. */
  headModel: tf.LayersModel | null
  /** The model cut at its frozen bottom: the top re-applies the model's layers (one more reference each). */
  split: FrozenSplit | null
  bottomExtractor: FeatureExtractor | null
}

export interface StreamInput {
  projectDir: string
  opts: TrainOptions
  data: DataSource
  built: Built
  imageShape: [number, number, number]
  backendName: string
  /** The training threads the run will step on (each holds its slice's activations). */
  threads: number
  signal?: AbortSignal
  log: (m: string) => void
  emit: (e: TrainEvent) => void
  owned: StreamOwned
}

/** The batches fit reads and the model they train (as tfjs's standardizeUserData turns data into what fitLoop takes). */
export interface StreamResult {
  stream: BatchStream
  /** The model the optimizer steps: the whole model, the top above its frozen bottom, or the head on cached features. */
  trainModel: tf.LayersModel
  /** `opts` with the batch size lowered to what fits the wasm heap. */
  opts: TrainOptions
  trainLabels: Int32Array
}

/**
 * The batch stream of a run: cached base features for a frozen transfer base without
 * augmentation (the base runs once per image), else pixels (augmented, preprocessed), run
 * through the frozen bottom when the model is split there.
 */
export async function openBatchStream(s: StreamInput): Promise<StreamResult> {
  const { data, built, owned, log } = s
  let opts = s.opts
  const model = built.model
  const base = built.base
  const trainLabels = await data.labels('train')
  const valLabels = await data.labels('validation')
  const augment = augmentEnabled(opts.augment)
  let trainModel = model
  const ph = opts.recipe === 'transfer' && base ? pooledHead(model, base) : null
  const usesFeatureCache = !!(opts.recipe === 'transfer' && base && opts.featureCache && !augment && ph)
  owned.split = !usesFeatureCache && base && opts.frozenSplit ? splitAtFrozenBottom(model, base) : null
  if (owned.split) trainModel = owned.split.top
  if (!usesFeatureCache && tf.getBackend() === 'wasm') {
    const cap = wasmBatchCap(trainModel, s.threads)
    if (opts.batchSize > cap) {
      log(`Batch ${opts.batchSize} would overflow the wasm memory for this model (a training step keeps every activation; ${s.threads === 1 ? 'one thread has 4 GiB' : `each of the ${s.threads} threads has 4 GiB for its slice of the batch`}, and all of them together stay within half of this machine's memory); using batch ${cap}.`)
      opts = { ...opts, batchSize: cap }
    }
  }
  if (usesFeatureCache && base && ph) {
    const stream = await featureCacheStream({ ...s, opts }, base, ph, valLabels.length > 0)
    owned.headModel = ph.head
    return { stream, trainModel: ph.head, opts, trainLabels }
  }
  ph?.head.dispose()
  const stream = await pixelStream({ ...s, opts }, trainModel, trainLabels.length, valLabels.length)
  return { stream, trainModel, opts, trainLabels }
}

/** The head trains on base features computed once per image and cached on disk. */
async function featureCacheStream({ projectDir, opts, data, built, imageShape, signal, log, emit }: StreamInput, base: tf.LayersModel, ph: NonNullable<ReturnType<typeof pooledHead>>, hasValidation: boolean): Promise<BatchStream> {
  const preprocess = built.preprocess
  const key = featureCacheKey({ base: base.name, baseWeights: built.baseWeights, preprocess, imageShape, data: await data.fingerprint(), v: 1, ...(opts.baseCut && opts.baseCut !== 'full' ? { cut: opts.baseCut } : {}) })
  const splits = hasValidation ? (['train', 'validation'] as const) : (['train'] as const)
  const gap = ph.gap
  let extractor: FeatureExtractor | null = null
  const cache = await ensureFeatureCache({
    projectDir,
    key,
    data,
    splits: [...splits],
    batchSize: Math.max(opts.batchSize, 32),
    extract: async (x) => {
      // The frozen base runs on the fastest engine that gives the same features (onnxruntime
      // when it matches TF.js within 1e-4, else TF.js); only the pooling runs here.
      if (!extractor) {
        extractor = await createFeatureExtractor(base)
        log(`Frozen base on ${extractor.engine}: ${extractor.reason}.`)
      }
      const pre = tf.tidy(() => applyPreprocess(x, preprocess, 3))
      const pixels = (await pre.data()) as Float32Array
      pre.dispose()
      const n = x.shape[0]
      const maps = await extractor.extract(pixels, n)
      return tf.tidy(() => gap.apply(tf.tensor4d(maps, [n, ...(extractor!.outputShape as [number, number, number])])) as tf.Tensor2D)
    },
    signal,
    log,
    onProgress: (() => {
      let last = 0
      return (done: number, total: number) => {
        const now = performance.now()
        if (done < total && now - last < 2000) return
        last = now
        emit({ type: 'log', message: `Computing base features: ${done}/${total} images` })
      }
    })(),
  }).finally(() => extractor?.dispose())
  if (!cache.computed) log(`Using cached base features (${cache.dir}).`)
  log('Training the head on cached base features (fast path: the frozen base runs once per image, not once per epoch).')
  return {
    trainCount: cache.meta.counts.train ?? 0,
    valCount: cache.meta.counts.validation ?? 0,
    train: (epoch) => cachedBatches(cache.dir, 'train', cache.meta, opts.batchSize, deriveSeed(opts.seed, epoch)),
    validation: () => cachedBatches(cache.dir, 'validation', cache.meta, opts.batchSize, null),
  }
}

/** Pixels (augmented with a seed per epoch and batch, preprocessed), or the frozen bottom's activations of them. */
async function pixelStream({ opts, data, built, imageShape, backendName, log, owned }: StreamInput, trainModel: tf.LayersModel, trainCount: number, valCount: number): Promise<BatchStream> {
  const split = owned.split
  const augment = augmentEnabled(opts.augment)
  const toInput = inputMaker(opts, built.preprocess, (built.model.inputs[0].shape[3] ?? imageShape[2]) as 1 | 3)
  // Raw batch -> what the trained model takes: pixels, or the frozen bottom's activations.
  let toBatch: (b: RawBatch, augSeed: number | null) => Promise<ReadyBatch>
  if (split) {
    owned.bottomExtractor = await createFeatureExtractor(split.bottom)
    const bottom = owned.bottomExtractor
    const cutShape = split.cutShape as [number, number, number]
    log(`Frozen bottom (input to ${split.cutLayer}, activations ${split.cutShape.join('x')}) runs forward-only on ${bottom.engine} (${bottom.reason}); the ${trainModel.trainableWeights.length} trainable tensors above it train on ${backendName}. Same model and weights as training it whole, without keeping the bottom's activations for backpropagation.`)
    toBatch = async (b, augSeed) => {
      const pre = toInput(b.x, b.shape, augSeed)
      const pixels = (await pre.data()) as Float32Array
      pre.dispose()
      return { x: tf.tensor4d(await bottom.extract(pixels, b.shape[0]), [b.shape[0], ...cutShape]), labels: b.labels }
    }
  } else {
    if (opts.recipe === 'transfer' && augment)
      log(`Augmentation is on (${formatAugment(opts.augment)}): base features are computed per augmented batch instead of once from the cache, so every epoch pays a full forward pass of the frozen base for every image (typically 5-50x slower per epoch than the cached path).`)
    toBatch = async (b, augSeed) => ({ x: toInput(b.x, b.shape, augSeed), labels: b.labels })
  }
  async function* trainGen(epoch: number): AsyncGenerator<ReadyBatch> {
    let i = 0
    for await (const b of data.batches('train', { batchSize: opts.batchSize, shuffle: true, seed: deriveSeed(opts.seed, epoch) })) {
      yield await toBatch(b, augment ? deriveSeed(opts.seed, epoch, i, 0xa) : null)
      i++
    }
  }
  async function* valGen(): AsyncGenerator<ReadyBatch> {
    for await (const b of data.batches('validation', { batchSize: opts.batchSize, shuffle: false, seed: 0 })) yield await toBatch(b, null)
  }
  return { trainCount, valCount, train: trainGen, validation: valGen }
}

/** Raw pixels -> the model's input: cast, augmented (with `augSeed`), preprocessed. */
function inputMaker(opts: TrainOptions, preprocess: PreprocessSpec, modelChannels: 1 | 3) {
  return (x: Uint8Array, shape: [number, number, number, number], augSeed: number | null): tf.Tensor => {
    return tf.tidy(() => {
      const raw = tf.tensor4d(x, shape, 'int32')
      const f = tf.cast(raw, 'float32') as tf.Tensor4D
      const aug = augSeed == null ? f : augmentBatch(f, opts.augment, augSeed)
      return applyPreprocess(aug, preprocess, modelChannels)
    })
  }
}
