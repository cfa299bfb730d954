import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { EarlyStopSpec, EpochMetrics, MonitorName, ReduceLrSpec, TrainEvent } from '../../../shared/training'
import { EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, type CheckpointState, type EarlyStoppingState, type EpochLogs, type ReduceLrState } from './callbacks'
import type { ParallelStep } from './parallel-step'
import { deriveSeed } from './rng'

/** A batch ready for the trained model: float input and integer labels. The loop disposes x. */
export interface ReadyBatch {
  x: tf.Tensor
  labels: Int32Array
}

export interface BatchStream {
  trainCount: number
  valCount: number
  /** Training batches of one epoch (shuffled/augmented deterministically from the epoch). */
  train(epoch: number): AsyncIterable<ReadyBatch>
  validation(): AsyncIterable<ReadyBatch>
}

/** Everything resume needs besides the weights; saved in checkpoints/last/state.json. */
export interface LoopState {
  epochsDone: number
  lr: number
  history: EpochMetrics[]
  earlyStop: EarlyStoppingState | null
  checkpoint: CheckpointState
  reduceLr: ReduceLrState | null
  stoppedEarly: boolean
  monitor: MonitorName
}

export interface LoopHooks {
  /** Save the current weights as the best (ModelCheckpoint save_best_only). */
  saveBest(epoch: number): Promise<void>
  /** Save the last-epoch checkpoint (weights + optimizer + state). */
  saveLast(state: LoopState): Promise<void>
  /** Persist one epoch's metrics (metrics.jsonl). */
  onEpoch(m: EpochMetrics): Promise<void>
  emit(e: TrainEvent): void
}

export interface FitOptions {
  /** The model whose trainable weights are updated; outputs are class probabilities (softmax). */
  model: tf.LayersModel
  /** The model restore-best snapshots and puts back (the full model; may be `model`). */
  snapshotModel?: tf.LayersModel
  optimizer: tf.Optimizer
  numClasses: number
  epochs: number
  seed: number
  learningRate: number
  classWeights?: Float32Array | null
  /** Keras label_smoothing of the loss (training and validation). */
  labelSmoothing?: number
  earlyStop?: EarlyStopSpec | null
  reduceLr?: ReduceLrSpec | null
  checkpointMonitor: MonitorName
  stream: BatchStream
  hooks: LoopHooks
  /** Aborting stops after the current batch. */
  signal?: AbortSignal
  resume?: { state: LoopState; bestWeights: tf.Tensor[] | null }
  /** Minimum milliseconds between 'batch' events (the last batch of an epoch is always sent). */
  batchEventIntervalMs?: number
  /** Training threads of `model` (data parallelism); absent: each step runs on this thread. */
  parallel?: ParallelStep | null
}

export interface FitResult {
  state: LoopState
  stopped: boolean
}

export function setLearningRate(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { setLearningRate?: (lr: number) => void; learningRate: number }
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr)
  else o.learningRate = lr
}

/** All layers, nested models flattened. */
export function flatLayers(model: tf.LayersModel | tf.layers.Layer): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = []
  const visit = (l: tf.layers.Layer) => {
    const inner = (l as unknown as { layers?: tf.layers.Layer[] }).layers
    if (Array.isArray(inner)) inner.forEach(visit)
    else out.push(l)
  }
  const inner = (model as unknown as { layers?: tf.layers.Layer[] }).layers
  if (Array.isArray(inner)) inner.forEach(visit)
  else out.push(model as tf.layers.Layer)
  return out
}

/**
 * Keras categorical cross-entropy from probabilities, per-sample weighted, mean over the batch;
 * with label smoothing s the one-hot targets become y * (1 - s) + s / numClasses (as Keras).
 */
export function crossEntropy(probs: tf.Tensor, labels: tf.Tensor1D, numClasses: number, weights?: tf.Tensor1D | null, labelSmoothing = 0): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(tf.div(probs, tf.sum(probs, -1, true)), 1e-7, 1 - 1e-7)
    const oneHot = tf.oneHot(labels, numClasses)
    const y = labelSmoothing > 0 ? tf.add(tf.mul(oneHot, 1 - labelSmoothing), labelSmoothing / numClasses) : oneHot
    let perSample = tf.neg(tf.sum(tf.mul(y, tf.log(p)), -1))
    if (weights) perSample = tf.mul(perSample, tf.gather(weights, labels))
    return tf.mean(perSample) as tf.Scalar
  })
}

export function isDropout(l: tf.layers.Layer): boolean {
  const cls = l.getClassName()
  return cls === 'Dropout' || cls === 'SpatialDropout1D' || cls === 'AlphaDropout' || cls === 'GaussianDropout'
}

/** The Keras callbacks of a fit and the metric they watch. */
interface FitCallbacks {
  monitor: MonitorName
  es: EarlyStopping | null
  ckpt: ModelCheckpoint
  rlr: ReduceLROnPlateau | null
}

/** One optimizer step: the batch's mean loss and number of correct predictions. */
type TrainStep = (b: ReadyBatch, epoch: number, batch: number) => Promise<{ loss: number; correct: number }>

/** One epoch's training sums. */
interface EpochSums {
  seen: number
  lossSum: number
  correctSum: number
}

/** Early stopping, checkpoint and ReduceLROnPlateau; a val_ monitor falls back to its training metric without validation images. */
function makeCallbacks(o: FitOptions, log: (message: string) => void): FitCallbacks {
  const ensureMonitor = (m: MonitorName): MonitorName => {
    if (o.stream.valCount === 0 && m.startsWith('val_')) {
      const fallback = m.slice(4) as MonitorName
      log(`No validation images: monitoring ${fallback} instead of ${m}. Add a validation split for honest early stopping and best-model selection.`)
      return fallback
    }
    return m
  }
  const monitor = ensureMonitor(o.earlyStop ? o.earlyStop.monitor : o.checkpointMonitor)
  const es = o.earlyStop ? new EarlyStopping(monitor, o.earlyStop.patience, o.earlyStop.mode, o.earlyStop.minDelta, o.earlyStop.restoreBestWeights) : null
  // checkpoints/best uses EarlyStopping's rule when it is on, so best == what restore_best_weights restores.
  const ckpt = es ? new ModelCheckpoint(monitor, o.earlyStop!.mode, o.earlyStop!.minDelta) : new ModelCheckpoint(monitor, 'auto', 0)
  const rlr = o.reduceLr ? new ReduceLROnPlateau(ensureMonitor(o.reduceLr.monitor), o.reduceLr.factor, o.reduceLr.patience, o.reduceLr.mode, o.reduceLr.minDelta, o.reduceLr.cooldown, o.reduceLr.minLr) : null
  return { monitor, es, ckpt, rlr }
}

/** A fresh loop state, or the resumed one with the callbacks' states and best weights put back. */
function startState(o: FitOptions, cb: FitCallbacks): { state: LoopState; bestSnapshot: tf.Tensor[] | null } {
  const { es, ckpt, rlr } = cb
  if (!o.resume) {
    return { state: { epochsDone: 0, lr: o.learningRate, history: [], earlyStop: es?.state ?? null, checkpoint: ckpt.state, reduceLr: rlr?.state ?? null, stoppedEarly: false, monitor: cb.monitor }, bestSnapshot: null }
  }
  const state = structuredClone(o.resume.state)
  if (es && state.earlyStop) es.state = state.earlyStop
  ckpt.state = state.checkpoint
  if (rlr && state.reduceLr) rlr.state = state.reduceLr
  return { state, bestSnapshot: es?.restoreBestWeights && o.resume.bestWeights ? o.resume.bestWeights : null }
}

/** One optimizer step on this thread; Dropout masks seeded per (seed, epoch, batch). */
function singleStepOf(o: FitOptions, vars: tf.Variable[], dropouts: { seed?: number }[], cw: tf.Tensor1D | null): TrainStep {
  const { model, optimizer, numClasses } = o
  const origSeeds = dropouts.map((d) => d.seed)
  return async (b, epoch, batch) => {
    const labelsT = tf.tensor1d(b.labels, 'int32')
    let correct: tf.Scalar | null = null
    let cost: tf.Scalar | null = null
    try {
      dropouts.forEach((d, i) => (d.seed = deriveSeed(o.seed, epoch, batch, i)))
      cost = tf.tidy(() =>
        optimizer.minimize!(
          () => {
            const probs = model.apply(b.x, { training: true }) as tf.Tensor
            correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labelsT), 'float32')) as tf.Scalar)
            return crossEntropy(probs, labelsT, numClasses, cw, o.labelSmoothing ?? 0)
          },
          true,
          vars,
        ) as tf.Scalar,
      )
      const [l, c] = await Promise.all([cost.data(), (correct as unknown as tf.Scalar).data()])
      return { loss: l[0], correct: c[0] }
    } finally {
      dropouts.forEach((d, i) => (d.seed = origSeeds[i]))
      tf.dispose(labelsT)
      if (cost) tf.dispose(cost)
      if (correct) tf.dispose(correct as tf.Scalar)
    }
  }
}

/** The training batches of one epoch: a step each (threads when `o.parallel`), 'batch' events, stop checked every batch. */
async function trainEpoch(o: FitOptions, epoch: number, t0: number, step: TrainStep, dropouts: readonly { seed?: number }[]): Promise<EpochSums> {
  const { stream, hooks } = o
  const interval = o.batchEventIntervalMs ?? 100
  const sums: EpochSums = { seen: 0, lossSum: 0, correctSum: 0 }
  let batch = 0
  let lastEmit = 0
  let estBatches = 0
  const batches = stream.train(epoch)[Symbol.asyncIterator]()
  let next = batches.next()
  try {
    for (let r = await next; !r.done; r = await next) {
      const b = r.value
      const n = b.labels.length
      try {
        const stepDone = o.parallel
          ? o.parallel.step(o.optimizer, b.x, b.labels, (slice) => dropouts.map((_, i) => deriveSeed(o.seed, epoch, batch, i, slice)))
          : step(b, epoch, batch)
        // The next batch (reading, augmentation, preprocessing) is made on this thread while the
        // training threads compute this step; after a macrotask, so this step's slices go out first.
        next = new Promise<void>((resolve) => setImmediate(resolve)).then(() => batches.next())
        const { loss, correct } = await stepDone
        if (!Number.isFinite(loss))
          throw new AppError('INVALID_INPUT', `The loss became ${loss} at epoch ${epoch + 1}, batch ${batch + 1}: training diverged.`, `Lower the learning rate (--lr, or --fine-tune-lr when fine-tuning; this run used ${o.learningRate}) and start again.`)
        sums.lossSum += loss * n
        sums.correctSum += correct
      } finally {
        tf.dispose(b.x)
      }
      sums.seen += n
      batch++
      estBatches = Math.max(batch, Math.ceil(stream.trainCount / Math.max(1, n)))
      const now = performance.now()
      if (now - lastEmit >= interval || sums.seen >= stream.trainCount) {
        lastEmit = now
        const ips = sums.seen / Math.max(1e-6, (now - t0) / 1000)
        const remaining = stream.trainCount - sums.seen + (o.epochs - epoch - 1) * stream.trainCount
        hooks.emit({ type: 'batch', epoch: epoch + 1, batch, batches: estBatches, loss: sums.lossSum / sums.seen, accuracy: sums.correctSum / sums.seen, imagesPerSecond: ips, etaSeconds: remaining / Math.max(1e-6, ips) })
      }
      if (o.signal?.aborted) break
    }
    return sums
  } finally {
    // The threads' weights back into the model before validation, callbacks or checkpoints read it.
    o.parallel?.flush()
    // Stopped or failed mid-epoch: the batch made ahead is freed and the stream closed.
    const ahead = await next.catch(() => null)
    if (ahead && !ahead.done) tf.dispose(ahead.value.x)
    await batches.return?.()
  }
}

/** The validation pass (tfjs's testLoop): mean loss and accuracy, null without validation images. */
async function testLoop(o: FitOptions): Promise<{ valLoss: number | null; valAccuracy: number | null }> {
  const { model, numClasses } = o
  let vs = 0
  let vl = 0
  let vc = 0
  if (o.stream.valCount > 0) {
    for await (const b of o.stream.validation()) {
      const labelsT = tf.tensor1d(b.labels, 'int32')
      try {
        const [l, c] = tf.tidy(() => {
          const probs = model.apply(b.x, { training: false }) as tf.Tensor
          return [tf.mul(crossEntropy(probs, labelsT, numClasses, null, o.labelSmoothing ?? 0), b.labels.length), tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labelsT), 'float32'))]
        })
        const [lv, cv] = await Promise.all([l.data(), c.data()])
        tf.dispose([l, c])
        vl += lv[0]
        vc += cv[0]
        vs += b.labels.length
      } finally {
        tf.dispose([b.x, labelsT])
      }
    }
  }
  return vs > 0 ? { valLoss: vl / vs, valAccuracy: vc / vs } : { valLoss: null, valAccuracy: null }
}

/**
 * Callbacks in Keras order at an epoch's end: EarlyStopping bookkeeping (and the best weights
 * snapshot for restore_best_weights), checkpoint, LR schedule; then the state saved and the epoch reported.
 */
async function endEpoch(o: FitOptions, cb: FitCallbacks, state: LoopState, best: { snapshot: tf.Tensor[] | null }, epoch: number, logs: EpochLogs, metrics: EpochMetrics, log: (message: string) => void): Promise<void> {
  const { es, ckpt, rlr, monitor } = cb
  const { hooks } = o
  if (es) {
    const r = es.onEpochEnd(epoch, logs)
    if (r.missing) log(`Early stopping watches ${monitor}, which this epoch did not report.`)
    if (r.improved && es.restoreBestWeights) {
      if (best.snapshot) tf.dispose(best.snapshot)
      best.snapshot = (o.snapshotModel ?? o.model).getWeights().map((w) => w.clone())
    }
    if (r.stop) {
      state.stoppedEarly = true
      log(`Early stopping at epoch ${epoch + 1}: ${monitor} did not improve for ${es.patience} epoch(s); best was epoch ${es.state.bestEpoch + 1} (${es.state.best?.toFixed(4)}).`)
    }
  }
  if (ckpt.onEpochEnd(epoch, logs).save) await hooks.saveBest(epoch + 1)
  if (rlr) {
    const r = rlr.onEpochEnd(epoch, logs, state.lr)
    if (r.reduced) {
      log(`ReduceLROnPlateau: ${rlr.monitor} stalled for ${rlr.patience} epoch(s); learning rate ${state.lr.toExponential(2)} -> ${r.lr.toExponential(2)}.`)
      state.lr = r.lr
      setLearningRate(o.optimizer, r.lr)
    }
  }
  state.history.push(metrics)
  state.epochsDone = epoch + 1
  state.earlyStop = es?.state ?? null
  state.checkpoint = ckpt.state
  state.reduceLr = rlr?.state ?? null
  await hooks.saveLast(state)
  await hooks.onEpoch(metrics)
  hooks.emit({ type: 'epoch', ...metrics })
}

/**
 * The custom training loop: one optimizer step per batch (optimizer.minimize over the model's
 * trainable weights, tidy per batch, stop checked every batch), validation at each epoch end,
 * EarlyStopping / ModelCheckpoint / ReduceLROnPlateau as in Keras, and a resumable state.
 * Dropout masks are seeded per (seed, epoch, batch) so a resumed run repeats an uninterrupted one.
 */
export async function fitLoop(o: FitOptions): Promise<FitResult> {
  const { model, optimizer, stream, hooks } = o
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)
  if (vars.length === 0) throw new AppError('INVALID_INPUT', 'The model has no trainable weights: nothing to train.', 'Unfreeze some layers (--fine-tune-from) or add a head.')
  const log = (message: string) => hooks.emit({ type: 'log', message })
  const cb = makeCallbacks(o, log)
  const { state, bestSnapshot } = startState(o, cb)
  const best = { snapshot: bestSnapshot }
  setLearningRate(optimizer, state.lr)

  const dropouts = flatLayers(model).filter(isDropout) as unknown as { seed?: number }[]
  const cw = o.classWeights ? tf.tensor1d(o.classWeights) : null
  const step = singleStepOf(o, vars, dropouts, cw)
  let stopped = false
  try {
    for (let epoch = state.epochsDone; epoch < o.epochs && !state.stoppedEarly; epoch++) {
      if (o.signal?.aborted) {
        stopped = true
        break
      }
      const t0 = performance.now()
      const { seen, lossSum, correctSum } = await trainEpoch(o, epoch, t0, step, dropouts)
      if (o.signal?.aborted && seen < stream.trainCount) {
        stopped = true
        log(`Stopped during epoch ${epoch + 1} after ${seen} of ${stream.trainCount} images; that partial epoch is discarded (resume repeats it).`)
        break
      }
      if (seen === 0) throw new AppError('INVALID_INPUT', 'The training split is empty: there is nothing to train on.', 'Import images, with some of them in the training split (--val and --test below 1 together).')
      const trainSeconds = (performance.now() - t0) / 1000
      const { valLoss, valAccuracy } = await testLoop(o)
      const logs: EpochLogs = { loss: lossSum / seen, accuracy: correctSum / seen, val_loss: valLoss, val_accuracy: valAccuracy }
      const metrics: EpochMetrics = { epoch: epoch + 1, loss: logs.loss, accuracy: logs.accuracy, valLoss, valAccuracy, lr: state.lr, seconds: (performance.now() - t0) / 1000, imagesPerSecond: seen / Math.max(1e-6, trainSeconds) }
      await endEpoch(o, cb, state, best, epoch, logs, metrics, log)
      if (o.signal?.aborted && state.epochsDone < o.epochs && !state.stoppedEarly) {
        stopped = true
        break
      }
    }
    if (cb.es?.restoreBestWeights && best.snapshot) {
      const restored = o.snapshotModel ?? model
      restored.setWeights(best.snapshot)
      log(`Restored the weights of the best epoch (${cb.es.state.bestEpoch + 1}, ${cb.monitor} = ${cb.es.state.best?.toFixed(4)}).`)
    }
  } finally {
    if (best.snapshot) tf.dispose(best.snapshot)
    if (cw) cw.dispose()
  }
  return { state, stopped }
}
