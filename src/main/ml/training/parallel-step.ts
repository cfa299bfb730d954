/**
 * Data-parallel training steps over worker_threads, for the wasm backend (one thread per
 * instance under Node: see ml/backend/README.md "Threads"). Each worker holds its own wasm
 * backend and a copy of the trained model; every batch is cut into one slice per worker.
 *
 * One step: each worker loads the weights from the step memory (one shared wasm memory,
 * step-memory.ts), computes the loss and gradients of its slice and writes them into its own
 * region of it; the main thread averages the gradients weighted by slice size (the full-batch
 * mean loss's gradient) and applies one optimizer step to the shared weights with a SIMD kernel
 * (flat-optimizer.ts). During an epoch the shared weights are the model's: `flush` writes them
 * (and the optimizer's state) back into the model's variables, which the training loop does at
 * the end of each epoch's batches.
 *
 * BatchNormalization: the forward pass normalises each slice with its own statistics (as DDP
 * without SyncBatchNorm). The moving mean/variance are then pooled from the slices' batch
 * statistics (recovered from each worker's moving-average update), which is exactly the update
 * a single thread makes on the full batch; taking one worker's would follow only its slice.
 */
import * as tf from '@tensorflow/tfjs'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { AppError } from '../../../shared/errors'
import { FlatOptimizer, optimizerSpace, type OptimizerSpace } from './flat-optimizer'
import { flatLayers } from './loop'
import { isBatchNorm } from './recipes'
import { StepMemory } from './step-memory'

/** What a worker needs to rebuild the model and compute the loss (workerData). */
export interface WorkerSetup {
  topology: object
  weights: Float32Array[]
  /** flatLayers indices of BatchNormalization layers kept in inference mode. */
  inferenceBn: number[]
  numClasses: number
  labelSmoothing: number
  classWeights: Float32Array | null
  /** The step memory (step-memory.ts) holding the regions below, at byte offsets. */
  memory: SharedArrayBuffer
  /** The step's weights, written by the main thread (StepVariables layout). */
  weightsAt: number
  /** This worker's gradients, then its updated moving statistics (same layout). */
  outAt: number
}

export interface SliceJob {
  x: Float32Array
  shape: number[]
  labels: Int32Array
  /** Seeds of the model's Dropout layers for this slice. */
  seeds: number[]
}

export type FromWorker = { type: 'ready'; threadId: number; shapes: number[][] } | { type: 'done'; loss: number; correct: number }

interface MovingStats {
  mean: number
  variance: number
  momentum: number
}

/** The variables a step reads and writes: the trainable weights, then the moving statistics of BN layers in training mode. */
export interface StepVariables {
  vars: tf.Variable[]
  trainable: number
  bn: MovingStats[]
  offsets: number[]
  total: number
}

const valOf = (w: tf.LayerVariable) => (w as unknown as { val: tf.Variable }).val

/** A BN layer whose `call` was replaced by forceInferenceMode / keepBatchNormInInference. */
function inInferenceMode(l: tf.layers.Layer): boolean {
  return Object.prototype.hasOwnProperty.call(l, 'call')
}

export function inferenceBnIndices(model: tf.LayersModel): number[] {
  return flatLayers(model).flatMap((l, i) => (isBatchNorm(l) && inInferenceMode(l) ? [i] : []))
}

export function stepVariables(model: tf.LayersModel): StepVariables {
  const vars = model.trainableWeights.map(valOf)
  const trainable = vars.length
  const bn: MovingStats[] = []
  for (const l of flatLayers(model)) {
    if (!isBatchNorm(l) || inInferenceMode(l)) continue
    const b = l as unknown as { movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable; momentum: number }
    bn.push({ mean: vars.length, variance: vars.length + 1, momentum: b.momentum })
    vars.push(valOf(b.movingMean), valOf(b.movingVariance))
  }
  const offsets: number[] = []
  let total = 0
  for (const v of vars) {
    offsets.push(total)
    total += v.size
  }
  return { vars, trainable, bn, offsets, total }
}

/** Slice sizes of a batch of n over k workers (the first n % k take one more). */
export function sliceSizes(n: number, k: number): number[] {
  const parts = Math.min(n, k)
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0))
}

/**
 * The worker entry and how to start it: the CLI bundle's compiled file; the TS source through
 * tsx; or built JavaScript next to this module or, in the Electron build (whose shared chunks
 * sit in out/main/chunks/), one folder up beside the entries.
 */
declare const CLI_BUNDLE_URL: string | undefined
function workerScript(): { script: string | URL; eval: boolean } {
  if (typeof CLI_BUNDLE_URL !== 'undefined') {
    const bundled = new URL('./parallel-worker.js', CLI_BUNDLE_URL)
    if (existsSync(bundled)) return { script: bundled, eval: false }
  }
  const ts = new URL('./parallel-worker.ts', import.meta.url)
  if (!existsSync(ts)) {
    const js = ['./parallel-worker.js', '../parallel-worker.js'].map((p) => new URL(p, import.meta.url)).find((u) => existsSync(u))
    if (!js) throw new Error(`the training thread's code (parallel-worker.js) is missing beside ${fileURLToPath(import.meta.url)}`)
    return { script: js, eval: false }
  }
  // Worker threads ignore `--import tsx` in execArgv (Node 20): register tsx, then import the source.
  const tsxApi = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')
  return { script: `import(${JSON.stringify(pathToFileURL(tsxApi).href)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}) })`, eval: true }
}

interface Thread {
  worker: Worker
  out: Float32Array
  threadId: number
  slices: number
  pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null
}

export interface ParallelOptions {
  model: tf.LayersModel
  threads: number
  numClasses: number
  labelSmoothing?: number
  classWeights?: Float32Array | null
}

export class ParallelStep {
  private failure: Error | null = null
  private closed = false
  /** The optimizer stepping the shared weights; null while the model's variables hold the weights. */
  private flat: FlatOptimizer | null = null

  private constructor(
    private readonly sv: StepVariables,
    private readonly weights: Float32Array,
    private readonly threads: Thread[],
    private readonly space: OptimizerSpace,
  ) {}

  /** Starts the workers and waits until each has rebuilt the model. */
  static async start(o: ParallelOptions): Promise<ParallelStep> {
    const sv = stepVariables(o.model)
    const trained = sv.trainable ? sv.offsets[sv.trainable - 1]! + sv.vars[sv.trainable - 1]!.size : 0
    // The weights, each thread's gradients, the optimizer's two slots and (over two threads) a sum.
    const memory = new StepMemory(sv.total * (1 + o.threads) + trained * 3, o.threads + 4)
    const weights = memory.alloc(sv.total)
    const common = {
      topology: o.model.toJSON(null, false) as object,
      weights: o.model.getWeights().map((w) => w.dataSync() as Float32Array),
      inferenceBn: inferenceBnIndices(o.model),
      numClasses: o.numClasses,
      labelSmoothing: o.labelSmoothing ?? 0,
      classWeights: o.classWeights ?? null,
      memory: memory.buffer,
      weightsAt: weights.byteOffset,
    }
    const { script, eval: isEval } = workerScript()
    const threads: Thread[] = Array.from({ length: o.threads }, () => {
      const out = memory.alloc(sv.total)
      const setup: WorkerSetup = { ...common, outAt: out.byteOffset }
      return { worker: new Worker(script, { eval: isEval, workerData: setup }), out, threadId: 0, slices: 0, pending: null }
    })
    const p = new ParallelStep(sv, weights, threads, optimizerSpace(memory, trained, o.threads))
    threads.forEach((t, k) => p.watch(t, k))
    try {
      const ready = await Promise.all(threads.map((t) => p.request(t)))
      ready.forEach((m, k) => {
        if (m.type !== 'ready') throw new Error(`thread ${k + 1} answered ${m.type} before it was ready`)
        threads[k]!.threadId = m.threadId
        const expected = sv.vars.map((v) => v.shape.join('x')).join(',')
        if (m.shapes.map((s) => s.join('x')).join(',') !== expected) throw new Error(`thread ${k + 1} rebuilt the model with other variables (${m.shapes.length} against ${sv.vars.length})`)
      })
    } catch (e) {
      await p.close()
      throw e
    }
    return p
  }

  /** The error that broke the threads (a worker died or threw), or null. */
  get failed(): Error | null {
    return this.failure
  }

  get size(): number {
    return this.threads.length
  }

  /** Worker thread ids and the number of slices each computed. */
  report(): { threadId: number; slices: number }[] {
    return this.threads.map((t) => ({ threadId: t.threadId, slices: t.slices }))
  }

  private watch(t: Thread, k: number): void {
    const name = `Training thread ${k + 1} of ${this.threads.length}`
    t.worker.on('message', (m: FromWorker) => {
      const p = t.pending
      t.pending = null
      p?.resolve(m)
    })
    t.worker.on('error', (e) => this.fail(new AppError('INTERNAL', `${name} failed: ${e.message}`, RESUME_HINT)))
    t.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new AppError('INTERNAL', `${name} (worker thread id ${t.threadId || '?'}) exited with code ${code} during training.`, RESUME_HINT))
    })
  }

  private fail(e: Error): void {
    this.failure ??= e
    for (const t of this.threads) {
      const p = t.pending
      t.pending = null
      p?.reject(this.failure)
    }
  }

  private request(t: Thread, job?: SliceJob): Promise<FromWorker> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      t.pending = { resolve, reject }
      // The slices are fresh copies (slice()), so their buffers are plain ArrayBuffers to move, not share.
      if (job) t.worker.postMessage(job, [job.x.buffer as ArrayBuffer, job.labels.buffer as ArrayBuffer])
    })
  }

  /**
   * One training step on batch x: gradients of the slices averaged, one optimizer step, moving
   * statistics pooled. Returns the batch's mean loss and number of correct predictions.
   */
  async step(optimizer: tf.Optimizer, x: tf.Tensor, labels: Int32Array, seedsOf: (slice: number) => number[]): Promise<{ loss: number; correct: number }> {
    if (this.failure) throw this.failure
    const flat = this.pull(optimizer)
    const xd = (await x.data()) as Float32Array
    const sizes = sliceSizes(labels.length, this.threads.length)
    const per = xd.length / labels.length
    let start = 0
    const jobs = sizes.map((n, k) => {
      const job: SliceJob = { x: xd.slice(start * per, (start + n) * per), shape: [n, ...x.shape.slice(1)], labels: labels.slice(start, start + n), seeds: seedsOf(k) }
      start += n
      return this.request(this.threads[k]!, job)
    })
    const done = await Promise.all(jobs)
    const w = sizes.map((n) => n / labels.length)
    let loss = 0
    let correct = 0
    done.forEach((m, k) => {
      if (m.type !== 'done') throw new Error(`thread ${k + 1} answered ${m.type} to a step`)
      loss += w[k]! * m.loss
      correct += m.correct
      this.threads[k]!.slices++
    })
    this.poolMovingStats(w)
    // A batch smaller than the thread count leaves the last threads idle (and their outputs stale).
    flat.apply(this.weights, this.threads.slice(0, w.length).map((t) => t.out), w)
    return { loss, correct }
  }

  /** The model's weights and the optimizer's state into the shared weights, once per epoch (or after a flush). */
  private pull(optimizer: tf.Optimizer): FlatOptimizer {
    if (this.flat) return this.flat
    const { sv } = this
    const flat = new FlatOptimizer(optimizer, sv.vars.slice(0, sv.trainable), sv.offsets, this.space)
    sv.vars.forEach((v, i) => this.weights.set(v.dataSync() as Float32Array, sv.offsets[i]))
    flat.pull()
    return (this.flat = flat)
  }

  /**
   * The shared weights (and optimizer state) back into the model's variables: call before
   * anything else reads or changes them (validation, checkpoints, callbacks, a single-thread step).
   */
  flush(): void {
    const flat = this.flat
    if (!flat) return
    this.flat = null
    const { sv } = this
    tf.tidy(() => sv.vars.forEach((v, i) => v.assign(tf.tensor(this.weights.subarray(sv.offsets[i], sv.offsets[i]! + v.size), v.shape))))
    flat.push()
  }

  /**
   * BN moving statistics of the full batch from the slices': each worker's update
   * new = m * old + (1 - m) * batchStat gives its slice's mean and (biased) variance; the
   * pooled variance adds the spread of the slice means around the batch mean.
   */
  private poolMovingStats(w: number[]): void {
    const { sv } = this
    for (const b of sv.bn) {
      const n = sv.vars[b.mean]!.size
      const decay = 1 - b.momentum
      if (decay <= 0) continue
      const om = sv.offsets[b.mean]!
      const ov = sv.offsets[b.variance]!
      for (let c = 0; c < n; c++) {
        const oldM = this.weights[om + c]!
        const oldV = this.weights[ov + c]!
        const mu = w.map((_, k) => (this.threads[k]!.out[om + c]! - b.momentum * oldM) / decay)
        const s2 = w.map((_, k) => (this.threads[k]!.out[ov + c]! - b.momentum * oldV) / decay)
        const m = mu.reduce((a, x, k) => a + w[k]! * x, 0)
        const v = s2.reduce((a, x, k) => a + w[k]! * (x + (mu[k]! - m) ** 2), 0)
        this.weights[om + c] = b.momentum * oldM + decay * m
        this.weights[ov + c] = b.momentum * oldV + decay * v
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.threads.map((t) => t.worker.terminate()))
  }

  /** For tests: the workers, to kill one. */
  get workers(): readonly Worker[] {
    return this.threads.map((t) => t.worker)
  }
}

const RESUME_HINT = 'The run keeps its last finished epoch: resume it (classifier-studio train <project> --resume <run>, or Resume in the Train view); --threads 1 trains on the main thread only.'
