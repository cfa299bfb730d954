import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import { augmentEnabled, EarlyStopSpec, formatAugment, resolvedOptimizer, TrainOptions, type TrainEvent, type TrainOptionsInput, type TrainResult } from '../../../shared/training'
import { initBackend, type BackendPreference } from '../backend'
import { openBatchStream, wasmBatchCap, type StreamOwned } from './batch-stream'
import { buildModel, type Built } from './build-model'
import { balancedClassWeights } from './callbacks'
import { writeCheckpoint } from './checkpoint'
import type { DataSource } from './data'
import { fitLoop, type BatchStream, type LoopState } from './loop'
import type { ParallelStep } from './parallel-step'
import { autoSchedule, makeOptimizer } from './recipes'
import { checkResumable, restoreOptimizer, restoreResume, resumeFailed, runTarget, type RunTarget } from './resume'
import { openRunFolder, RunLog, runResult, runStatus, type RunFacts } from './run-folder'
import { appendMetrics, appendRunLog, checkpointsDir, removeRunLeftovers, writeRunStatus } from './runs'
import { oneThreadBatchError, startTrainingThreads, threadFailure, trainingThreads } from './threads'

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

/** What a run allocates, disposed in runTraining's finally whatever happened (set as soon as each exists). */
interface Owned extends StreamOwned {
  built: Built | null
  builderHead: tf.LayersModel | null
  optimizer: tf.Optimizer | null
  /** The best epoch's weights of a resumed run (handed to fitLoop, which then owns them). */
  resumeBest: tf.Tensor[] | null
  parallel: ParallelStep | null
}

/** How far this session got: the loop state after its latest checkpointed epoch, and whether it checkpointed one. */
interface Progress {
  lastState: LoopState | null
  progressed: boolean
}

/**
 * Trains in this process (the worker calls this; tests may too). Creates or resumes
 * <P>/runs/<runId>/, streams events, and returns the result. Tensors it creates are disposed
 * before it returns (numTensors before == after). In steps, as tfjs's fit -> standardizeUserData
 * -> fitLoop: the run (new or resumed), the model (build-model.ts), the resume's state
 * (resume.ts), the run folder (run-folder.ts), the batch stream (batch-stream.ts), then fit.
 */
export async function runTraining(projectDir: string, input: TrainOptionsInput | TrainOptions, ctl: RunControl): Promise<TrainResult> {
  const deps = ctl.deps
  const emit = (e: TrainEvent) => ctl.onEvent?.(e)
  // What trainings killed mid-way left (temporary files, a half-swapped checkpoint): see runs.ts.
  for (const m of await removeRunLeftovers(projectDir)) emit({ type: 'log', message: `Cleaned after an interrupted training: ${m}.` })
  const backend = await (deps.backend ?? defaultBackend)()
  const target = await runTarget(projectDir, TrainOptions.parse(input), input)
  const { runId } = target
  const threadChoice = trainingThreads(backend.name, target.opts.threads)
  /** Read whenever status.json or the result is written: opts, the weights note and the threads (1 when they could not start) change on the way. */
  const facts: RunFacts = { runId, backend: backend.name, opts: target.opts, weightsNote: null, threads: threadChoice.threads }
  const runLog = new RunLog(projectDir, runId, emit)
  const data = deps.data
  const labels = data.classNames
  if (labels.length < 2) throw new AppError('INVALID_INPUT', `Training needs at least 2 classes; the dataset has ${labels.length}.`, 'Import images of at least two labels (one folder per label).')
  checkResumable(target.resumeConfig, runId, labels, data.imageShape)
  const { optimizer: optName, learningRate } = resolvedOptimizer(target.opts)
  const startTensors = tf.memory().numTensors
  const owned: Owned = { built: null, builderHead: null, optimizer: null, resumeBest: null, parallel: null, headModel: null, split: null, bottomExtractor: null }
  const progress: Progress = { lastState: null, progressed: false }
  try {
    const { built, lastDir, resumeState } = await prepareRun(projectDir, target, facts, deps, runLog, owned, progress, backend.reason)
    const optimizer = (owned.optimizer = makeOptimizer(optName, learningRate))
    emit({ type: 'start', runId, backend: backend.name, reason: backend.reason, recipe: facts.opts.recipe, epochs: facts.opts.epochs, resumedFromEpoch: resumeState?.epochsDone ?? 0, weightsNote: facts.weightsNote, baseCut: facts.opts.recipe === 'transfer' ? (facts.opts.baseCut ?? 'full') : null, threads: facts.threads })
    startLogs(facts, threadChoice.reason, data.imageShape, labels.length, optName, learningRate, runLog.log)
    const s = await openBatchStream({ projectDir, opts: facts.opts, data, built, imageShape: data.imageShape, backendName: backend.name, threads: facts.threads, signal: ctl.signal, log: runLog.log, emit, owned })
    facts.opts = s.opts
    const optimizerVariables = s.trainModel.trainableWeights.map((w) => w.originalName)
    if (resumeState && lastDir) await restoreOptimizer(lastDir, optimizer, optimizerVariables, optName, resumeState.lr, runLog.log)
    const classWeights = facts.opts.classWeights === 'auto' ? balancedClassWeights(s.trainLabels, labels.length) : null
    if (classWeights) runLog.log(`Class weights (balanced): ${labels.map((l, i) => `${l}=${classWeights[i].toFixed(3)}`).join(', ')}.`)
    owned.parallel = await startThreads(s.trainModel, facts, labels.length, classWeights, runLog.log, deps)
    const fit = await fitRun({ projectDir, facts, built, trainModel: s.trainModel, stream: s.stream, optimizer, optimizerVariables, learningRate, labels, classWeights, resumeState, owned, progress, signal: ctl.signal, runLog, emit })
    return await finishRun(projectDir, facts, fit, runLog.log, emit)
  } catch (err) {
    return await failedRun(projectDir, err as Error & { hint?: string; code?: string }, { target, facts, runLog, progress, parallel: owned.parallel, signal: ctl.signal, emit })
  } finally {
    await release(owned)
    const leaked = tf.memory().numTensors - startTensors
    if (leaked > 0) emit({ type: 'log', message: `note: ${leaked} tensors still allocated after training` })
  }
}

/**
 * Everything before the loop: the model built for the recipe, a resume's state read and checked
 * before the run folder is touched, the one-click schedule, then the run folder.
 */
async function prepareRun(projectDir: string, target: RunTarget, facts: RunFacts, deps: TrainDeps, runLog: RunLog, owned: Owned, progress: Progress, backendReason: string) {
  const { runId, resumeConfig, lastDir } = target
  const data = deps.data
  const b = await buildModel({ projectDir, opts: facts.opts, deps, imageShape: data.imageShape, labels: data.classNames, runId, resumeConfig, lastDir, log: runLog.log, owned })
  const built = (owned.built = b.built)
  facts.opts = b.opts
  facts.weightsNote = b.weightsNote
  const resumeState = resumeConfig && lastDir ? await restoreResume(projectDir, runId, lastDir, facts.opts, built.model, owned) : null
  if (!resumeConfig) facts.opts = await chosenSchedule(facts.opts, data, runLog.log)
  await openRunFolder({ projectDir, facts, built, imageShape: data.imageShape, labels: data.classNames, settings: deps.settings ?? null, backendReason, resumeConfig, resumeState, runLog, progress })
  return { built, lastDir, resumeState }
}

/** One-click schedule: epochs from the data, early stopping with restore-best. */
async function chosenSchedule(opts: TrainOptions, data: DataSource, log: (m: string) => void): Promise<TrainOptions> {
  if (!opts.autoEpochs || opts.recipe !== 'transfer') return opts
  const cached = opts.featureCache && !augmentEnabled(opts.augment)
  const sched = autoSchedule((await data.labels('train')).length, opts.batchSize)
  // Augmented epochs each run the base over every image: keep their number as given.
  if (cached) opts = { ...opts, epochs: sched.epochs }
  if (opts.earlyStop === undefined) opts = { ...opts, earlyStop: EarlyStopSpec.parse({ patience: sched.patience }) }
  log(`Schedule chosen from the data: ${opts.epochs} epochs${cached ? ` (about ${Math.round((opts.epochs * (await data.labels('train')).length) / opts.batchSize)} steps of batch ${opts.batchSize})` : ''}, early stopping on ${opts.earlyStop ? `${opts.earlyStop.monitor} with patience ${opts.earlyStop.patience}, restoring the best epoch's weights` : 'off'}.`)
  return opts
}

function startLogs(facts: RunFacts, threadsReason: string, imageShape: [number, number, number], numClasses: number, optName: string, learningRate: number, log: (m: string) => void) {
  const { opts } = facts
  log(`Training threads: ${facts.threads} (${threadsReason}).`)
  if (facts.weightsNote) log(`Note: ${facts.weightsNote}`)
  log(`Recipe ${opts.recipe}${opts.recipe === 'cnn' ? ` (${opts.model})` : ` on ${opts.base}`}, ${numClasses} classes, images ${imageShape.join('x')}, ${opts.epochs} epochs, batch ${opts.batchSize}, ${optName} lr ${learningRate}, augmentation ${formatAugment(opts.augment)}${opts.labelSmoothing > 0 ? `, label smoothing ${opts.labelSmoothing}` : ''}, seed ${opts.seed}.`)
}

/** The data-parallel threads (null: one thread); `facts.threads` becomes how many started. */
async function startThreads(trainModel: tf.LayersModel, facts: RunFacts, numClasses: number, classWeights: Float32Array | null, log: (m: string) => void, deps: TrainDeps): Promise<ParallelStep | null> {
  const parallel = await startTrainingThreads({ model: trainModel, threads: facts.threads, numClasses, labelSmoothing: facts.opts.labelSmoothing, classWeights, log })
  if (facts.threads > 1) {
    const tooLarge = !parallel && tf.getBackend() === 'wasm' ? oneThreadBatchError(facts.threads, facts.opts.batchSize, wasmBatchCap(trainModel)) : null
    if (tooLarge) throw tooLarge
    facts.threads = parallel?.size ?? 1
    if (parallel) log(`Each batch of ${facts.opts.batchSize} is split across ${parallel.size} threads (their own wasm backends); their gradients are averaged into one optimizer step.`)
    deps.onThreads?.(parallel)
  }
  return parallel
}

interface FitInput {
  projectDir: string
  facts: RunFacts
  built: Built
  trainModel: tf.LayersModel
  stream: BatchStream
  optimizer: tf.Optimizer
  optimizerVariables: string[]
  learningRate: number
  labels: string[]
  classWeights: Float32Array | null
  resumeState: LoopState | null
  owned: Owned
  progress: Progress
  signal?: AbortSignal
  runLog: RunLog
  emit: (e: TrainEvent) => void
}

/** The loop, with its checkpoints (best, last), metrics and log written into the run folder. */
async function fitRun(f: FitInput) {
  const { projectDir, facts, built, trainModel, stream, optimizer, optimizerVariables, learningRate, labels, classWeights, resumeState, owned, progress, runLog, emit } = f
  const { runId, opts } = facts
  const { model, preprocess } = built
  const log = runLog.log
  const numClasses = labels.length
  const ck = checkpointsDir(projectDir, runId)
  const resumeBest = owned.resumeBest
  const parallel = owned.parallel
  const signal = f.signal
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
    signal,
    resume: resumeState ? { state: resumeState, bestWeights: resumeBest } : undefined,
    parallel,
    hooks: {
      saveBest: (epoch) => writeCheckpoint(ck, 'best', { model, metadata: { runId, epoch, labels, preprocess } }),
      saveLast: async (state) => {
        await writeCheckpoint(ck, 'last', { model, optimizer, optimizerVariables, state, metadata: { runId, epoch: state.epochsDone, labels, preprocess } })
        progress.lastState = structuredClone(state)
        progress.progressed = true
        await writeRunStatus(projectDir, runId, runStatus(facts, 'running', state))
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
  owned.resumeBest = null // owned (and disposed) by fitLoop
  return fit
}

/** The run's end: its status, the last log lines and the 'done' event. */
async function finishRun(projectDir: string, facts: RunFacts, fit: { state: LoopState; stopped: boolean }, log: (m: string) => void, emit: (e: TrainEvent) => void): Promise<TrainResult> {
  const { runId, opts } = facts
  const state = fit.state
  const result = runResult(facts, state, fit.stopped)
  await writeRunStatus(projectDir, runId, runStatus(facts, fit.stopped ? 'stopped' : 'completed', state))
  log(fit.stopped ? `Stopped after ${state.epochsDone} epoch(s); resume with --resume ${runId}.` : `Finished: best epoch ${result.best.epoch} (${state.monitor} ${state.checkpoint.best?.toFixed(4) ?? '-'}).`)
  if (result.stillImproving) log(`Still improving: the best epoch is the last one, so training longer may give a better model (classifier-studio train ${projectDir} --resume ${runId} --epochs ${opts.epochs * 2}).`)
  emit({ type: 'done', result })
  return result
}

interface Failure {
  target: RunTarget
  facts: RunFacts
  runLog: RunLog
  progress: Progress
  parallel: ParallelStep | null
  signal?: AbortSignal
  emit: (e: TrainEvent) => void
}

/**
 * A run that failed: a stop pressed before the first epoch is a stop (its result returned); a
 * resume that failed before an epoch leaves the run as it was; a dead training thread leaves it
 * interrupted and resumable; anything else marks it failed. Throws but for the stop.
 */
async function failedRun(projectDir: string, e: Error & { hint?: string; code?: string }, f: Failure): Promise<TrainResult> {
  const { facts, runLog, progress } = f
  const { runId, opts } = facts
  const { prev } = f.target
  // Stop pressed before the first epoch of this session (while the base's features were being
  // computed): a stop like any other, not a failure. The run resumes from where it was.
  if (runLog.ready && f.signal?.aborted && e.name === 'AbortError') {
    const result = runResult(facts, progress.lastState, true)
    await writeRunStatus(projectDir, runId, runStatus(facts, 'stopped', progress.lastState))
    runLog.log(`Stopped after ${progress.lastState?.epochsDone ?? 0} epoch(s) (${e.message.replace(/\.$/, '')}); resume with --resume ${runId}.`)
    f.emit({ type: 'done', result })
    return result
  }
  if (prev && !progress.progressed) throw await resumeFailed(projectDir, runId, prev, facts.backend, e)
  const threadDied = threadFailure(f.parallel, e)
  if (runLog.ready) {
    await appendRunLog(projectDir, runId, `failed: ${e.name}: ${e.message}`).catch(() => undefined)
    // A dead training thread is the machine's doing, not the run's: it stays resumable.
    await writeRunStatus(projectDir, runId, { ...runStatus(facts, threadDied ? 'interrupted' : 'failed', progress.lastState), error: { name: e.name, message: e.message } }).catch(() => undefined)
  }
  if (threadDied)
    throw new AppError(
      'INTERNAL',
      `${e.message} Run ${runId} was interrupted after ${progress.lastState?.epochsDone ?? 0} finished epoch(s) of ${opts.epochs}.`,
      `Resume it from its last finished epoch: classifier-studio train ${projectDir} --resume ${runId} (add --threads 1 to train on one thread), or Resume in the Train view.`,
    )
  throw e
}

async function release(o: Owned): Promise<void> {
  await o.parallel?.close()
  if (o.resumeBest) tf.dispose(o.resumeBest)
  o.optimizer?.dispose()
  await o.bottomExtractor?.dispose()
  o.split?.top.dispose()
  o.headModel?.dispose()
  o.built?.model.dispose()
  o.builderHead?.dispose()
}
