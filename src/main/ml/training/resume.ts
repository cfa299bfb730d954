import type * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { TrainOptions, TrainOptionsInput } from '../../../shared/training'
import { checkpointDir, damagedCheckpoint, loadCheckpointWeightsInto, loadOptimizerWeights, readCheckpointState, readCheckpointWeights } from './checkpoint'
import type { LoopState } from './loop'
import { appendRunLog, checkpointsDir, loadRun, newRunId, writeRunStatus, type LoadedRun, type RunConfig } from './runs'

/** The run a training writes: a new one, or the one it resumes with that run's own options. */
export interface RunTarget {
  runId: string
  opts: TrainOptions
  /** The resumed run as it was (null: a new run). */
  prev: LoadedRun | null
  resumeConfig: RunConfig | null
  /** The resumed run's `last` checkpoint (null: it stopped before finishing an epoch). */
  lastDir: string | null
}

/** A new run id, or the resumed run with its options (the number of epochs and threads may be changed). */
export async function runTarget(projectDir: string, opts: TrainOptions, input: TrainOptionsInput | TrainOptions): Promise<RunTarget> {
  if (!opts.resumeRunId) return { runId: newRunId(opts.recipe), opts, prev: null, resumeConfig: null, lastDir: null }
  const prev = await loadRun(projectDir, opts.resumeRunId)
  const runId = prev.config.runId
  // A resume repeats the run's own options; only the number of epochs may be changed.
  // (and the number of threads: the same steps, only BatchNormalization slices differ).
  const raw = (input ?? {}) as { epochs?: unknown; threads?: unknown }
  const resumed = { ...prev.config.options, resumeRunId: runId, ...(typeof raw.epochs === 'number' ? { epochs: opts.epochs } : {}), ...(typeof raw.threads === 'number' ? { threads: opts.threads } : {}) }
  return { runId, opts: resumed, prev, resumeConfig: prev.config, lastDir: await checkpointDir(checkpointsDir(projectDir, runId), 'last') }
}

/** Refuses to resume a run on other labels or another image size than the data has now. */
export function checkResumable(resumeConfig: RunConfig | null, runId: string, labels: string[], imageShape: [number, number, number]): void {
  if (resumeConfig && resumeConfig.labels.join('\u0000') !== labels.join('\u0000'))
    throw new AppError('INVALID_INPUT', `Run ${runId} was trained on labels [${resumeConfig.labels.join(', ')}] but the dataset now has [${labels.join(', ')}], so it cannot continue.`, 'Start a new run on the current labels (the stopped run stays as it is).')
  if (resumeConfig && resumeConfig.imageShape.join('x') !== imageShape.join('x'))
    throw new AppError('INVALID_INPUT', `Run ${runId} was trained on ${resumeConfig.imageShape.join('x')} images but the project's images are now ${imageShape.join('x')}, so it cannot continue.`, 'Start a new run at the current input size (the stopped run stays as it is).')
}

/**
 * The resumed run's loop state and weights from its `last` checkpoint, read and checked before
 * the run folder is touched; the best epoch's weights go to `owned.resumeBest` (early stopping
 * that restores them), so the caller disposes them whatever fails next.
 */
export async function restoreResume(projectDir: string, runId: string, lastDir: string, opts: TrainOptions, model: tf.LayersModel, owned: { resumeBest: tf.Tensor[] | null }): Promise<LoopState> {
  const resumeState = await readCheckpointState<LoopState>(lastDir)
  if (!resumeState || !Array.isArray(resumeState.history) || typeof resumeState.epochsDone !== 'number') throw damagedCheckpoint(lastDir, 'it has no readable training state (state.json)')
  // (A fine-tune resume built its model from this checkpoint already.)
  if (opts.recipe !== 'finetune') await loadCheckpointWeightsInto(lastDir, model)
  const bestDir = await checkpointDir(checkpointsDir(projectDir, runId), 'best')
  if (bestDir && opts.earlyStop && opts.earlyStop.restoreBestWeights) owned.resumeBest = await readCheckpointWeights(bestDir, model)
  return resumeState
}

/** The optimizer's slots from the `last` checkpoint; a fresh optimizer (said in the log) when they do not fit. */
export async function restoreOptimizer(lastDir: string, optimizer: tf.Optimizer, variables: string[], optName: string, lr: number, log: (m: string) => void): Promise<void> {
  const r = await loadOptimizerWeights(lastDir, optimizer, variables)
  if (r.restored) log(`Optimizer state restored (${optName}).`)
  else log(`The optimizer state was not restored (${r.reason}); continuing with a fresh ${optName} at learning rate ${lr.toExponential(2)}.`)
}

/**
 * A resume that failed before finishing an epoch: the run is left as it was (stopped or
 * interrupted, with its checkpoints and metrics), so it can be resumed again; its log and status
 * say what went wrong. The error to throw.
 */
export async function resumeFailed(projectDir: string, runId: string, prev: LoadedRun, backendName: string, e: Error & { hint?: string; code?: string }): Promise<AppError> {
  const before = prev.info.status === 'running' ? 'interrupted' : prev.info.status
  const was = prev.status
  // The run folder exists (it is the resumed run's): its log and status say what went wrong.
  await appendRunLog(projectDir, runId, `resume failed: ${e.name}: ${e.message}`).catch(() => undefined)
  await writeRunStatus(projectDir, runId, {
    status: before,
    backend: was?.backend ?? backendName,
    epochsDone: prev.info.epochsDone,
    best: was?.best ?? null,
    stoppedEarly: was?.stoppedEarly ?? false,
    ...(was?.threads ? { threads: was.threads } : {}),
    error: { name: e.name, message: e.message },
  }).catch(() => undefined)
  return new AppError(
    e.code === 'INVALID_INPUT' || e.code === 'NOT_FOUND' || e.code === 'PROJECT_DAMAGED' ? e.code : 'INTERNAL',
    `Could not resume run ${runId}: ${e.message}`,
    `${e.hint ? e.hint + ' ' : ''}The run was left as it was (${before}, ${prev.info.epochsDone} of ${prev.info.epochsPlanned} epochs done).`,
  )
}
