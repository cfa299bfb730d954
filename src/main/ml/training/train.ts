import * as tf from '@tensorflow/tfjs'
import type { PreprocessSpec } from '../../../shared/models'
import { augmentEnabled, EarlyStopSpec, formatAugment, resolvedOptimizer, TrainOptions, type TrainEvent, type TrainOptionsInput, type TrainResult } from '../../../shared/training'
import { applyPreprocess, buildCnn, buildTransferModel, presetSpec, RESCALE_01 } from '../models'
import { cutTransferModel } from '../models/transfer'
import { createFeatureExtractor, initBackend, type BackendPreference, type FeatureExtractor } from '../backend'
import { augmentBatch } from './augment'
import { loadBaseWeights, preprocessForWeights } from './base-weights'
import { balancedClassWeights } from './callbacks'
import { AppError } from '../../../shared/errors'
import { checkpointDir, damagedCheckpoint, loadCheckpointModel, loadCheckpointWeightsInto, loadOptimizerWeights, readCheckpointState, readCheckpointWeights, writeCheckpoint } from './checkpoint'
import type { DataSource, RawBatch } from './data'
import { cachedBatches, ensureFeatureCache, featureCacheKey } from './feature-cache'
import { fitLoop, type BatchStream, type LoopState, type ReadyBatch } from './loop'
import { splitAtFrozenBottom, type FrozenSplit } from './frozen-split'
import { autoSchedule, findBase, fineTuneStartIndex, freezeBase, makeOptimizer, pooledHead, resolveBaseCut, stillImproving, unfreezeTop, weightsNoteFor } from './recipes'
import { deriveSeed, withSeededMathRandom } from './rng'
import type { ParallelStep } from './parallel-step'
import { startTrainingThreads, threadFailure, trainingThreads } from './threads'
import { appendMetrics, appendRunLog, checkpointsDir, createRunDir, listRuns, loadRun, loadRunModel, newRunId, removeRunLeftovers, writeMetrics, writeRunStatus, type LoadedRun, type RunConfig } from './runs'

export interface BackendInfo {
  name: string
  reason: string
}

/** Things the engine needs from other domains; tests replace them with small fakes. */
export interface TrainDeps {
  /** The images to train on; the caller adapts its dataset (services/training/project-data.ts for a project's). */
  data: DataSource
  /** Default: initBackend() of the backend domain (else the 'cpu' backend). */
  backend?: () => Promise<BackendInfo>
  /** Default: models' buildTransferModel (a Keras Applications base without top + GAP/Dropout/Dense head). */
  buildTransfer?: (base: TrainOptions['base'], opts: { inputShape: [number, number, number]; numClasses: number }) => { model: tf.LayersModel; base: tf.LayersModel; head?: tf.LayersModel }
  /** Loads pretrained weights into a freshly built base; returns a short description of where they came from. */
  loadBaseWeights?: (base: tf.LayersModel, name: TrainOptions['base'], path: string | undefined, log: (m: string) => void) => Promise<string>
  /** Sees the training threads once started (null: they could not start); tests stop one to see the run fail. */
  onThreads?: (threads: ParallelStep | null) => void
  /** Replaces the preset builder of the 'cnn' recipe (tests use tiny models). */
  buildCnn?: (imageShape: [number, number, number], numClasses: number) => tf.LayersModel
  /** Project settings stored with the run (predict/export parity). */
  settings?: Record<string, unknown> | null
}

export interface RunControl {
  onEvent?: (e: TrainEvent) => void
  /** Abort = stop after the current batch (the run keeps its best weights and can be resumed). */
  signal?: AbortSignal
  deps: TrainDeps
}

async function defaultBackend(): Promise<BackendInfo> {
  const b = await initBackend((process.env.CLASSIFIER_STUDIO_BACKEND as BackendPreference | undefined) ?? 'auto')
  return { name: b.name, reason: b.reason }
}

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
 * The largest batch whose training step fits the wasm heap (4 GiB, wasm32): TF.js keeps every
 * activation of the step, measured at about 6x the forward activations (MobileNetV2 at 160 px:
 * ~255 MiB per image, so batch 32 fails with "memory access out of bounds" and 14 fits).
 */
export function wasmBatchCap(model: tf.LayersModel, budgetBytes = 3.5 * 2 ** 30): number {
  return Math.max(1, Math.floor(budgetBytes / (6 * 4 * activationsPerImage(model))))
}

function defaultPreset(imageShape: [number, number, number]): string {
  return imageShape[2] === 1 ? 'fashion-mnist-cnn' : 'cats-dogs-cnn'
}

interface Built {
  model: tf.LayersModel
  base: tf.LayersModel | null
  preprocess: PreprocessSpec
  baseWeights: string | null
  fromRunId: string | null
}

/**
 * Trains in this process (the worker calls this; tests may too). Creates or resumes
 * <P>/runs/<runId>/, streams events, and returns the result. Tensors it creates are disposed
 * before it returns (numTensors before == after).
 */
export async function runTraining(projectDir: string, input: TrainOptionsInput | TrainOptions, ctl: RunControl): Promise<TrainResult> {
  const deps = ctl.deps
  let opts = TrainOptions.parse(input)
  const emit = (e: TrainEvent) => ctl.onEvent?.(e)
  // What trainings killed mid-way left (temporary files, a half-swapped checkpoint): see runs.ts.
  for (const m of await removeRunLeftovers(projectDir)) emit({ type: 'log', message: `Cleaned after an interrupted training: ${m}.` })
  const backend = await (deps.backend ?? defaultBackend)()

  let runId: string
  let resumeConfig: RunConfig | null = null
  let prev: LoadedRun | null = null
  /** The resumed run's `last` checkpoint (null: it stopped before finishing an epoch). */
  let lastDir: string | null = null
  if (opts.resumeRunId) {
    prev = await loadRun(projectDir, opts.resumeRunId)
    resumeConfig = prev.config
    runId = prev.config.runId
    // A resume repeats the run's own options; only the number of epochs may be changed.
    // (and the number of threads: the same steps, only BatchNormalization slices differ).
    const raw = (input ?? {}) as { epochs?: unknown; threads?: unknown }
    opts = { ...prev.config.options, resumeRunId: runId, ...(typeof raw.epochs === 'number' ? { epochs: opts.epochs } : {}), ...(typeof raw.threads === 'number' ? { threads: opts.threads } : {}) }
    lastDir = await checkpointDir(checkpointsDir(projectDir, runId), 'last')
  } else runId = newRunId(opts.recipe)

  /** status.json for a state of the loop (null: no finished epoch). */
  /** Plain-words advice about the base's weights (set once the weights are known). */
  let weightsNote: string | null = null
  const threadChoice = trainingThreads(backend.name, opts.threads)
  /** The threads the run trains on (1 when they could not start). */
  let threadsUsed = threadChoice.threads
  const improving = (st: LoopState | null, stopped: boolean) =>
    !!st && stillImproving({ bestEpoch: st.checkpoint.bestEpoch + 1, epochsDone: st.epochsDone, epochsPlanned: opts.epochs, stopped, stoppedEarly: st.stoppedEarly })
  const statusOf = (status: 'running' | 'stopped' | 'completed' | 'failed' | 'interrupted', st: LoopState | null) => {
    const b = st ? st.checkpoint.bestEpoch : -1
    return { status, backend: backend.name, epochsDone: st?.epochsDone ?? 0, best: st && b >= 0 ? { epoch: b + 1, valAccuracy: st.history[b]?.valAccuracy ?? null } : null, stoppedEarly: st?.stoppedEarly ?? false, stillImproving: status === 'completed' && improving(st, false), weightsNote, threads: threadsUsed }
  }
  const resultOf = (st: LoopState | null, stopped: boolean): TrainResult => {
    const b = st ? st.checkpoint.bestEpoch : -1
    const monitor = st?.monitor ?? (opts.earlyStop ? opts.earlyStop.monitor : opts.checkpointMonitor)
    return {
      runId,
      backend: backend.name,
      recipe: opts.recipe,
      epochs: st?.history ?? [],
      best: { epoch: b + 1, valAccuracy: st && b >= 0 ? (st.history[b]?.valAccuracy ?? null) : null, monitor, value: st?.checkpoint.best ?? null },
      stoppedEarly: st?.stoppedEarly ?? false,
      stopped,
      stillImproving: improving(st, stopped),
      weightsNote,
    }
  }

  const pending: string[] = []
  let runReady = false
  const log = (message: string) => {
    emit({ type: 'log', message })
    if (runReady) void appendRunLog(projectDir, runId, message).catch(() => undefined)
    else pending.push(message)
  }

  const data = deps.data
  const labels = data.classNames
  const numClasses = labels.length
  if (numClasses < 2) throw new AppError('INVALID_INPUT', `Training needs at least 2 classes; the dataset has ${numClasses}.`, 'Import images of at least two labels (one folder per label).')
  const imageShape = data.imageShape
  if (resumeConfig && resumeConfig.labels.join('\u0000') !== labels.join('\u0000'))
    throw new AppError('INVALID_INPUT', `Run ${runId} was trained on labels [${resumeConfig.labels.join(', ')}] but the dataset now has [${labels.join(', ')}], so it cannot continue.`, 'Start a new run on the current labels (the stopped run stays as it is).')
  if (resumeConfig && resumeConfig.imageShape.join('x') !== imageShape.join('x'))
    throw new AppError('INVALID_INPUT', `Run ${runId} was trained on ${resumeConfig.imageShape.join('x')} images but the project's images are now ${imageShape.join('x')}, so it cannot continue.`, 'Start a new run at the current input size (the stopped run stays as it is).')
  const { optimizer: optName, learningRate } = resolvedOptimizer(opts)

  const startTensors = tf.memory().numTensors
  let built: Built | null = null
  let headModel: tf.LayersModel | null = null
  let builderHead: tf.LayersModel | null = null
  let optimizer: tf.Optimizer | null = null
  let bottomExtractor: FeatureExtractor | null = null
  let split: FrozenSplit | null = null
  let resumeBest: tf.Tensor[] | null = null
  let resumeState: LoopState | null = null
  /** The loop state after the latest checkpointed epoch (what status.json reports on failure). */
  let lastState: LoopState | null = null
  /** Whether this session has checkpointed an epoch (a resume that fails before leaves the run as it was). */
  let progressed = false
  let parallel: ParallelStep | null = null
  try {
    // ---- model for the recipe -------------------------------------------------------------
    if (opts.recipe === 'cnn') {
      const preset = opts.layers ? (opts.model ?? 'custom') : (opts.model ?? defaultPreset(imageShape))
      const spec = opts.layers ? { type: 'cnn' as const, layers: opts.layers } : presetSpec(preset)
      if (spec.type !== 'cnn') throw new AppError('INVALID_INPUT', `--model ${preset} is not a CNN preset.`, 'Use fashion-mnist-cnn, sign-mnist-cnn or cats-dogs-cnn, or --recipe transfer for a pretrained base.')
      const model = withSeededMathRandom(opts.seed, () => (deps.buildCnn ? deps.buildCnn(imageShape, numClasses) : buildCnn(spec.layers, { inputShape: imageShape, numClasses })))
      built = { model, base: null, preprocess: RESCALE_01, baseWeights: null, fromRunId: null }
      opts = { ...opts, model: preset }
    } else if (opts.recipe === 'transfer') {
      const inputShape: [number, number, number] = [imageShape[0], imageShape[1], imageShape[2]]
      const make = deps.buildTransfer ?? ((b, o) => buildTransferModel(b, o))
      let t = withSeededMathRandom(opts.seed, () => make(opts.base, { inputShape, numClasses }))
      // A resume with a checkpoint takes every weight (the base's too) from it.
      const baseWeights = resumeConfig && lastDir ? resumeConfig.baseWeights : await (deps.loadBaseWeights ?? loadBaseWeights)(t.base, opts.base, opts.baseWeights, log)
      // Where the base is cut (recorded in the run, so a resume rebuilds the same model; runs
      // from before cuts existed have none: the whole base).
      const cut = resolveBaseCut(resumeConfig ? resumeConfig.options.baseCut : opts.baseCut, baseWeights, t.base)
      if (cut) {
        const full = t
        t = withSeededMathRandom(opts.seed, () => cutTransferModel(full, cut, numClasses))
        if (!resumeConfig) log(`Base cut at ${cut} (output ${t.base.outputs[0].shape.slice(1).join('x')}): with these weights the features of that layer measure best (bench/default-recipe.ts); the head reads them through global average pooling.`)
      }
      if (!resumeConfig) opts = { ...opts, baseCut: cut ?? 'full' }
      weightsNote = weightsNoteFor(baseWeights, imageShape[0])
      builderHead = t.head ?? null
      freezeBase(t.base)
      built = { model: t.model, base: t.base, preprocess: resumeConfig?.preprocess ?? preprocessForWeights(opts.base, baseWeights ?? ''), baseWeights, fromRunId: null }
    } else {
      let fromRunId = resumeConfig?.fromRunId ?? opts.fromRunId ?? null
      if (!fromRunId) {
        const candidates = (await listRuns(projectDir)).filter((r) => (r.recipe === 'transfer' || r.recipe === 'finetune') && (r.hasBest || r.hasLast) && r.runId !== runId)
        if (!candidates.length)
          throw new AppError('NOT_FOUND', 'Fine-tuning continues from a transfer-learning run, and this project has none with saved weights.', 'Train the head first: classifier-studio train <project> --recipe transfer.')
        fromRunId = candidates[0].runId
      }
      // A resume continues from its own last checkpoint (the whole model), so the run it started
      // from may since have been deleted.
      const ownLast = resumeConfig && lastDir
      const src = ownLast
        ? { model: await loadCheckpointModel(lastDir!).catch((e: Error) => Promise.reject(e instanceof AppError ? e : damagedCheckpoint(lastDir!, e.message))), labels: resumeConfig!.labels, preprocess: resumeConfig!.preprocess }
        : await loadRunModel(projectDir, fromRunId, 'best')
      const srcRun: { config: Pick<RunConfig, 'recipe' | 'options' | 'baseWeights'> } = ownLast ? { config: resumeConfig! } : await loadRun(projectDir, fromRunId)
      if (src.labels.join('\u0000') !== labels.join('\u0000')) {
        src.model.dispose()
        throw new AppError('INVALID_INPUT', `Run ${fromRunId} was trained on labels [${src.labels.join(', ')}] but the dataset now has [${labels.join(', ')}].`, 'Train a new transfer run on the current labels first.')
      }
      const base = findBase(src.model)
      if (!base) {
        src.model.dispose()
        throw new AppError('INVALID_INPUT', `Run ${fromRunId} has no pretrained base to fine-tune (recipe ${srcRun.config.recipe}).`, 'Fine-tune from a transfer-learning run (--from-run <run of --recipe transfer>), or train one first: classifier-studio train <project> --recipe transfer.')
      }
      if (!ownLast) opts = { ...opts, base: srcRun.config.options.base }
      built = { model: src.model, base, preprocess: src.preprocess, baseWeights: srcRun.config.baseWeights, fromRunId }
      const start = fineTuneStartIndex(base, opts.fineTuneFrom)
      const unfrozen = unfreezeTop(base, start)
      log(`Fine-tuning ${unfrozen.length} layers with weights of ${base.name} (from "${base.layers.filter((l) => l.getClassName() !== 'InputLayer')[start]?.name}" on) starting from run ${fromRunId}; BatchNormalization layers stay in inference mode.`)
    }
    const model = built.model
    const base = built.base

    // ---- resume: everything is read and checked before the run folder is touched ------------
    if (resumeConfig && lastDir) {
      resumeState = await readCheckpointState<LoopState>(lastDir)
      if (!resumeState || !Array.isArray(resumeState.history) || typeof resumeState.epochsDone !== 'number') throw damagedCheckpoint(lastDir, 'it has no readable training state (state.json)')
      // (A fine-tune resume built its model from this checkpoint already.)
      if (opts.recipe !== 'finetune') await loadCheckpointWeightsInto(lastDir, model)
      const bestDir = await checkpointDir(checkpointsDir(projectDir, runId), 'best')
      if (bestDir && opts.earlyStop && opts.earlyStop.restoreBestWeights) resumeBest = await readCheckpointWeights(bestDir, model)
    }

    // ---- one-click schedule: epochs from the data, early stopping with restore-best -----------
    if (!resumeConfig && opts.autoEpochs && opts.recipe === 'transfer') {
      const cached = opts.featureCache && !augmentEnabled(opts.augment)
      const sched = autoSchedule((await data.labels('train')).length, opts.batchSize)
      // Augmented epochs each run the base over every image: keep their number as given.
      if (cached) opts = { ...opts, epochs: sched.epochs }
      if (opts.earlyStop === undefined) opts = { ...opts, earlyStop: EarlyStopSpec.parse({ patience: sched.patience }) }
      log(`Schedule chosen from the data: ${opts.epochs} epochs${cached ? ` (about ${Math.round((opts.epochs * (await data.labels('train')).length) / opts.batchSize)} steps of batch ${opts.batchSize})` : ''}, early stopping on ${opts.earlyStop ? `${opts.earlyStop.monitor} with patience ${opts.earlyStop.patience}, restoring the best epoch's weights` : 'off'}.`)
    }

    // ---- run folder ---------------------------------------------------------------------------
    const config: RunConfig = resumeConfig
      ? { ...resumeConfig, options: { ...resumeConfig.options, epochs: opts.epochs } }
      : {
          runId,
          createdAt: new Date().toISOString(),
          recipe: opts.recipe,
          options: opts,
          labels,
          imageShape,
          preprocess: built.preprocess,
          settings: deps.settings ?? null,
          fromRunId: built.fromRunId,
          baseWeights: built.baseWeights,
        }
    await createRunDir(projectDir, config)
    runReady = true
    await appendRunLog(projectDir, runId, `backend: ${backend.name} (${backend.reason})`)
    for (const m of pending) await appendRunLog(projectDir, runId, m)
    const ck = checkpointsDir(projectDir, runId)
    if (resumeState) {
      lastState = resumeState
      await writeMetrics(projectDir, runId, resumeState.history)
      log(`Resuming run ${runId} after epoch ${resumeState.epochsDone} of ${opts.epochs} (weights, learning rate ${resumeState.lr.toExponential(2)} and callbacks restored).`)
    } else if (resumeConfig) log(`Run ${runId} has no finished epoch to resume from; starting it from the beginning.`)
    await writeRunStatus(projectDir, runId, statusOf('running', resumeState))
    optimizer = makeOptimizer(optName, learningRate)

    emit({ type: 'start', runId, backend: backend.name, reason: backend.reason, recipe: opts.recipe, epochs: opts.epochs, resumedFromEpoch: resumeState?.epochsDone ?? 0, weightsNote, baseCut: opts.recipe === 'transfer' ? (opts.baseCut ?? 'full') : null, threads: threadsUsed })
    log(`Training threads: ${threadsUsed} (${threadChoice.reason}).`)
    if (weightsNote) log(`Note: ${weightsNote}`)
    log(`Recipe ${opts.recipe}${opts.recipe === 'cnn' ? ` (${opts.model})` : ` on ${opts.base}`}, ${numClasses} classes, images ${imageShape.join('x')}, ${opts.epochs} epochs, batch ${opts.batchSize}, ${optName} lr ${learningRate}, augmentation ${formatAugment(opts.augment)}${opts.labelSmoothing > 0 ? `, label smoothing ${opts.labelSmoothing}` : ''}, seed ${opts.seed}.`)

    // ---- data streams ---------------------------------------------------------------------------
    const trainLabels = await data.labels('train')
    const valLabels = await data.labels('validation')
    const preprocess = built.preprocess
    const modelChannels = (model.inputs[0].shape[3] ?? imageShape[2]) as 1 | 3
    const toInput = (x: Uint8Array, shape: [number, number, number, number], augSeed: number | null): tf.Tensor => {
      return tf.tidy(() => {
        const raw = tf.tensor4d(x, shape, 'int32')
        const f = tf.cast(raw, 'float32') as tf.Tensor4D
        const aug = augSeed == null ? f : augmentBatch(f, opts.augment, augSeed)
        return applyPreprocess(aug, preprocess, modelChannels)
      })
    }
    const augment = augmentEnabled(opts.augment)
    let trainModel = model
    let stream: BatchStream
    const ph = opts.recipe === 'transfer' && base ? pooledHead(model, base) : null
    const usesFeatureCache = !!(opts.recipe === 'transfer' && base && opts.featureCache && !augment && ph)
    split = !usesFeatureCache && base && opts.frozenSplit ? splitAtFrozenBottom(model, base) : null
    // The top re-applies the model's layers (one more reference each): disposed in finally.
    if (split) trainModel = split.top
    if (!usesFeatureCache && tf.getBackend() === 'wasm') {
      const cap = wasmBatchCap(trainModel)
      if (opts.batchSize > cap) {
        log(`Batch ${opts.batchSize} would overflow the wasm backend's 4 GiB memory for this model (a training step keeps every activation); using batch ${cap}.`)
        opts = { ...opts, batchSize: cap }
      }
    }
    if (usesFeatureCache && base && ph) {
      const key = featureCacheKey({ base: base.name, baseWeights: built.baseWeights, preprocess, imageShape, data: await data.fingerprint(), v: 1, ...(opts.baseCut && opts.baseCut !== 'full' ? { cut: opts.baseCut } : {}) })
      const splits = valLabels.length ? (['train', 'validation'] as const) : (['train'] as const)
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
        signal: ctl.signal,
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
      headModel = ph.head
      trainModel = ph.head
      stream = {
        trainCount: cache.meta.counts.train ?? 0,
        valCount: cache.meta.counts.validation ?? 0,
        train: (epoch) => cachedBatches(cache.dir, 'train', cache.meta, opts.batchSize, deriveSeed(opts.seed, epoch)),
        validation: () => cachedBatches(cache.dir, 'validation', cache.meta, opts.batchSize, null),
      }
    } else {
      ph?.head.dispose()
      // Raw batch -> what the trained model takes: pixels, or the frozen bottom's activations.
      let toBatch: (b: RawBatch, augSeed: number | null) => Promise<ReadyBatch>
      if (split) {
        bottomExtractor = await createFeatureExtractor(split.bottom)
        const bottom = bottomExtractor
        const cutShape = split.cutShape as [number, number, number]
        log(`Frozen bottom (input to ${split.cutLayer}, activations ${split.cutShape.join('x')}) runs forward-only on ${bottom.engine} (${bottom.reason}); the ${trainModel.trainableWeights.length} trainable tensors above it train on ${backend.name}. Same model and weights as training it whole, without keeping the bottom's activations for backpropagation.`)
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
      stream = { trainCount: trainLabels.length, valCount: valLabels.length, train: trainGen, validation: valGen }
    }

    const optimizerVariables = trainModel.trainableWeights.map((w) => w.originalName)
    if (resumeState && lastDir) {
      const r = await loadOptimizerWeights(lastDir, optimizer, optimizerVariables)
      if (r.restored) log(`Optimizer state restored (${optName}).`)
      else log(`The optimizer state was not restored (${r.reason}); continuing with a fresh ${optName} at learning rate ${resumeState.lr.toExponential(2)}.`)
    }

    const classWeights = opts.classWeights === 'auto' ? balancedClassWeights(trainLabels, numClasses) : null
    if (classWeights) log(`Class weights (balanced): ${labels.map((l, i) => `${l}=${classWeights[i].toFixed(3)}`).join(', ')}.`)

    // ---- train ------------------------------------------------------------------------------------
    parallel = await startTrainingThreads({ model: trainModel, threads: threadsUsed, numClasses, labelSmoothing: opts.labelSmoothing, classWeights, log })
    if (threadsUsed > 1) {
      threadsUsed = parallel?.size ?? 1
      if (parallel) log(`Each batch of ${opts.batchSize} is split across ${parallel.size} threads (their own wasm backends); their gradients are averaged into one optimizer step.`)
      deps.onThreads?.(parallel)
    }
    const fit = await fitLoop({
      model: trainModel,
      snapshotModel: model,
      optimizer,
      numClasses,
      epochs: opts.epochs,
      seed: opts.seed,
      learningRate,
      classWeights,
      labelSmoothing: opts.labelSmoothing,
      earlyStop: opts.earlyStop || null,
      reduceLr: opts.reduceLrOnPlateau || null,
      checkpointMonitor: opts.checkpointMonitor,
      stream,
      signal: ctl.signal,
      resume: resumeState ? { state: resumeState, bestWeights: resumeBest } : undefined,
      parallel,
      hooks: {
        saveBest: (epoch) => writeCheckpoint(ck, 'best', { model, metadata: { runId, epoch, labels, preprocess } }),
        saveLast: async (state) => {
          await writeCheckpoint(ck, 'last', { model, optimizer: optimizer!, optimizerVariables, state, metadata: { runId, epoch: state.epochsDone, labels, preprocess } })
          lastState = structuredClone(state)
          progressed = true
          await writeRunStatus(projectDir, runId, statusOf('running', state))
        },
        onEpoch: async (m) => {
          await appendMetrics(projectDir, runId, m)
          await appendRunLog(projectDir, runId, `epoch ${m.epoch}: loss ${m.loss.toFixed(4)} acc ${m.accuracy.toFixed(4)} val_loss ${m.valLoss?.toFixed(4) ?? '-'} val_acc ${m.valAccuracy?.toFixed(4) ?? '-'} lr ${m.lr.toExponential(2)} ${m.seconds.toFixed(1)}s ${m.imagesPerSecond.toFixed(1)} img/s`)
        },
        emit: (e) => {
          if (e.type === 'log') log(e.message)
          else emit(e)
        },
      },
    })
    resumeBest = null // owned (and disposed) by fitLoop
    const state = fit.state
    const result = resultOf(state, fit.stopped)
    await writeRunStatus(projectDir, runId, statusOf(fit.stopped ? 'stopped' : 'completed', state))
    log(fit.stopped ? `Stopped after ${state.epochsDone} epoch(s); resume with --resume ${runId}.` : `Finished: best epoch ${result.best.epoch} (${state.monitor} ${state.checkpoint.best?.toFixed(4) ?? '-'}).`)
    if (result.stillImproving) log(`Still improving: the best epoch is the last one, so training longer may give a better model (classifier-studio train ${projectDir} --resume ${runId} --epochs ${opts.epochs * 2}).`)
    emit({ type: 'done', result })
    return result
  } catch (err) {
    const e = err as Error & { hint?: string; code?: string }
    // Stop pressed before the first epoch of this session (while the base's features were being
    // computed): a stop like any other, not a failure. The run resumes from where it was.
    if (runReady && ctl.signal?.aborted && e.name === 'AbortError') {
      const result = resultOf(lastState, true)
      await writeRunStatus(projectDir, runId, statusOf('stopped', lastState))
      log(`Stopped after ${lastState?.epochsDone ?? 0} epoch(s) (${e.message.replace(/\.$/, '')}); resume with --resume ${runId}.`)
      emit({ type: 'done', result })
      return result
    }
    if (prev && !progressed) {
      // A resume that failed before finishing an epoch: the run is left as it was (stopped or
      // interrupted, with its checkpoints and metrics), so it can be resumed again.
      const before = prev.info.status === 'running' ? 'interrupted' : prev.info.status
      const was = prev.status
      {
        // The run folder exists (it is the resumed run's): its log and status say what went wrong.
        await appendRunLog(projectDir, runId, `resume failed: ${e.name}: ${e.message}`).catch(() => undefined)
        await writeRunStatus(projectDir, runId, {
          status: before,
          backend: was?.backend ?? backend.name,
          epochsDone: prev.info.epochsDone,
          best: was?.best ?? null,
          stoppedEarly: was?.stoppedEarly ?? false,
          ...(was?.threads ? { threads: was.threads } : {}),
          error: { name: e.name, message: e.message },
        }).catch(() => undefined)
      }
      throw new AppError(
        e.code === 'INVALID_INPUT' || e.code === 'NOT_FOUND' || e.code === 'PROJECT_DAMAGED' ? e.code : 'INTERNAL',
        `Could not resume run ${runId}: ${e.message}`,
        `${e.hint ? e.hint + ' ' : ''}The run was left as it was (${before}, ${prev.info.epochsDone} of ${prev.info.epochsPlanned} epochs done).`,
      )
    }
    const threadDied = threadFailure(parallel, err)
    if (runReady) {
      await appendRunLog(projectDir, runId, `failed: ${e.name}: ${e.message}`).catch(() => undefined)
      // A dead training thread is the machine's doing, not the run's: it stays resumable.
      await writeRunStatus(projectDir, runId, { ...statusOf(threadDied ? 'interrupted' : 'failed', lastState), error: { name: e.name, message: e.message } }).catch(() => undefined)
    }
    if (threadDied)
      throw new AppError(
        'INTERNAL',
        `${e.message} Run ${runId} was interrupted after ${lastState?.epochsDone ?? 0} finished epoch(s) of ${opts.epochs}.`,
        `Resume it from its last finished epoch: classifier-studio train ${projectDir} --resume ${runId} (add --threads 1 to train on one thread), or Resume in the Train view.`,
      )
    throw err
  } finally {
    await parallel?.close()
    if (resumeBest) tf.dispose(resumeBest)
    optimizer?.dispose()
    await bottomExtractor?.dispose()
    split?.top.dispose()
    headModel?.dispose()
    built?.model.dispose()
    builderHead?.dispose()
    const leaked = tf.memory().numTensors - startTensors
    if (leaked > 0) emit({ type: 'log', message: `note: ${leaked} tensors still allocated after training` })
  }
}
