/**
 * How many threads a run trains on, and starting them. Data parallelism (parallel-step.ts) pays
 * only on the wasm backend, which runs one thread per instance under Node; the native tfjs-node
 * backends already use every core for each op, so they train on one thread.
 */
import type * as tf from '@tensorflow/tfjs'
import { availableParallelism } from 'node:os'
import { AppError } from '../../../shared/errors'
import { ParallelStep } from './parallel-step'

export interface ThreadChoice {
  threads: number
  /** Why this number, for the run log. */
  reason: string
}

/** The threads a run uses on `backend` when `requested` (the `threads` option) is given or not. */
export function trainingThreads(backend: string, requested: number | undefined, cores = availableParallelism()): ThreadChoice {
  if (backend !== 'wasm') return { threads: 1, reason: `the ${backend} backend uses every core within each operation` }
  if (requested !== undefined) return { threads: requested, reason: requested === 1 ? 'threads 1 asked for: every step on the training thread' : `threads ${requested} asked for (${cores} cores)` }
  return { threads: Math.max(1, cores), reason: `one per core (${cores}); --threads N to choose` }
}

export interface StartThreadsOptions {
  model: tf.LayersModel
  threads: number
  numClasses: number
  labelSmoothing: number
  classWeights: Float32Array | null
  log: (message: string) => void
}

/**
 * Starts `threads` training threads for `model`; null for one thread, or when they cannot start
 * (said in the log): the loop then steps on this thread, which gives the same model.
 */
export async function startTrainingThreads(o: StartThreadsOptions): Promise<ParallelStep | null> {
  if (o.threads <= 1) return null
  try {
    return await ParallelStep.start({ model: o.model, threads: o.threads, numClasses: o.numClasses, labelSmoothing: o.labelSmoothing, classWeights: o.classWeights })
  } catch (e) {
    o.log(`Could not start ${o.threads} training threads (${(e as Error).message}); training on one thread instead.`)
    return null
  }
}

/** A run that failed because a training thread died: kept resumable from its last finished epoch. */
export function threadFailure(p: ParallelStep | null, e: unknown): boolean {
  return !!p && p.failed !== null && e === p.failed
}

/**
 * When the threads could not start, the batch (capped for `threads` wasm memories) has to fit one:
 * the error that says so, or null when it fits `oneThreadCap`.
 */
export function oneThreadBatchError(threads: number, batchSize: number, oneThreadCap: number): AppError | null {
  if (batchSize <= oneThreadCap) return null
  return new AppError('INVALID_INPUT', `The ${threads} training threads could not start, and batch ${batchSize} (which ${threads} threads would share) does not fit one thread's 4 GiB wasm memory for this model (at most ${oneThreadCap}).`, `Train on one thread with --threads 1 (the batch is then lowered to what fits), or choose --batch ${oneThreadCap} or less.`)
}
