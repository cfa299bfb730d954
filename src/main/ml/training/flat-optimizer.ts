/**
 * The optimizer step of data-parallel training in plain JavaScript over the flat weights the
 * training threads share: tfjs's Adam, RMSprop (not centered) and SGD updates, element by
 * element, with the optimizer's own slot variables as the state between epochs. Through tfjs
 * the same step costs ~116 small wasm kernels and a copy of every gradient into the backend
 * (~7 ms a step for the Fashion CNN, while the threads wait); this loop takes ~1 ms.
 *
 * `pull` reads the slots (creating missing ones as tfjs's applyGradients does: same names,
 * zeros, not trainable), `apply` updates weights and state in place, `push` writes the state
 * back so that checkpoints, resume and a later single-thread step see tfjs's own state.
 */
import * as tf from '@tensorflow/tfjs'

interface Slot {
  originalName: string
  variable: tf.Variable
}

type AdamFields = { learningRate: number; beta1: number; beta2: number; epsilon: number; accBeta1: tf.Variable; accBeta2: tf.Variable; accumulatedFirstMoment: Slot[]; accumulatedSecondMoment: Slot[] }
type RmsFields = { learningRate: number; decay: number; momentum: number; epsilon: number; centered: boolean; accumulatedMeanSquares: Slot[]; accumulatedMoments: Slot[] }
type Counting = { incrementIterations(): void }

export const FLAT_OPTIMIZERS = ['Adam', 'RMSProp', 'SGD'] as const

export class FlatOptimizer {
  /** Slot names per kind, in tfjs's order, each a flat copy laid out like the weights. */
  private readonly state: Float32Array[]
  private accBeta1 = 0
  private accBeta2 = 0

  /**
   * @param vars the variables the optimizer updates, in the order it is given them
   * @param offsets where each variable starts in the flat weights
   */
  constructor(
    private readonly optimizer: tf.Optimizer,
    private readonly vars: tf.Variable[],
    private readonly offsets: number[],
    private readonly size: number,
  ) {
    const cls = FlatOptimizer.kind(optimizer)
    if (!(FLAT_OPTIMIZERS as readonly string[]).includes(cls) || (cls === 'RMSProp' && (optimizer as unknown as RmsFields).centered))
      throw new Error(`Training threads update weights with Adam, RMSprop (not centered) or SGD; this run's optimizer is ${cls}.`)
    this.state = this.slotLists().map(() => new Float32Array(size))
  }

  static kind(optimizer: tf.Optimizer): string {
    return (optimizer.constructor as unknown as { className: string }).className
  }

  private slotLists(): { list: Slot[]; suffix: string }[] {
    const o = this.optimizer as unknown as AdamFields & RmsFields
    switch (FlatOptimizer.kind(this.optimizer)) {
      case 'Adam':
        return [{ list: o.accumulatedFirstMoment, suffix: 'm' }, { list: o.accumulatedSecondMoment, suffix: 'v' }]
      case 'RMSProp':
        return [{ list: o.accumulatedMeanSquares, suffix: 'rms' }, { list: o.accumulatedMoments, suffix: 'momentum' }]
      default:
        return []
    }
  }

  /** Reads the optimizer's state (missing slots created as zeros, as tfjs does on its first step). */
  pull(): void {
    this.slotLists().forEach(({ list, suffix }, s) => {
      this.vars.forEach((v, i) => {
        list[i] ??= { originalName: `${v.name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(v).variable(false)) }
        this.state[s]!.set(list[i]!.variable.dataSync() as Float32Array, this.offsets[i])
      })
    })
    if (FlatOptimizer.kind(this.optimizer) === 'Adam') {
      const o = this.optimizer as unknown as AdamFields
      this.accBeta1 = o.accBeta1.dataSync()[0]!
      this.accBeta2 = o.accBeta2.dataSync()[0]!
    }
  }

  /** Writes the state back into the optimizer's variables. */
  push(): void {
    tf.tidy(() => {
      this.slotLists().forEach(({ list }, s) => {
        this.vars.forEach((v, i) => list[i]!.variable.assign(tf.tensor(this.state[s]!.subarray(this.offsets[i], this.offsets[i]! + v.size), v.shape)))
      })
      if (FlatOptimizer.kind(this.optimizer) === 'Adam') {
        const o = this.optimizer as unknown as AdamFields
        o.accBeta1.assign(tf.scalar(this.accBeta1))
        o.accBeta2.assign(tf.scalar(this.accBeta2))
      }
    })
  }

  /**
   * One step: w[0, size) updated in place from the gradient Σ scales[k]·parts[k] (the threads'
   * slice gradients weighted by slice size: the batch mean), summed inside the update loop for
   * up to two parts (one pass over memory instead of three).
   */
  apply(w: Float32Array, parts: Float32Array[], scales: number[]): void {
    const n = this.size
    let p0 = parts[0]!
    let s0 = scales[0]!
    if (parts.length > 2) {
      p0 = this.sum(parts, scales)
      s0 = 1
    }
    const two = parts.length === 2
    const p1 = two ? parts[1]! : p0
    const s1 = two ? scales[1]! : 0
    const kind = FlatOptimizer.kind(this.optimizer)
    if (kind === 'Adam') {
      const o = this.optimizer as unknown as AdamFields
      const [m, v] = this.state as [Float32Array, Float32Array]
      const { beta1, beta2, epsilon } = o
      const c1 = 1 - beta1
      const c2 = 1 - beta2
      // tfjs: w -= lr * (m / d1) / (sqrt(v / d2) + eps), with d = 1 - beta^t; the same as
      // w -= k * m / (sqrt(v) + eps * sqrt(d2)) with k = lr * sqrt(d2) / d1: one division, not three.
      const d1 = Math.fround(1 - this.accBeta1)
      const d2 = Math.fround(1 - this.accBeta2)
      const k = (o.learningRate * Math.sqrt(d2)) / d1
      const e = epsilon * Math.sqrt(d2)
      for (let i = 0; i < n; i++) {
        const gi = s0 * p0[i]! + s1 * p1[i]!
        const mi = (m[i] = m[i]! * beta1 + gi * c1)
        const vi = (v[i] = v[i]! * beta2 + gi * gi * c2)
        w[i] = w[i]! - (k * mi) / (Math.sqrt(vi) + e)
      }
      // tfjs multiplies by beta as a float32 scalar.
      this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(beta1))
      this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(beta2))
    } else if (kind === 'RMSProp') {
      const o = this.optimizer as unknown as RmsFields
      const [ms, mom] = this.state as [Float32Array, Float32Array]
      const { decay, momentum, epsilon, learningRate: lr } = o
      for (let i = 0; i < n; i++) {
        const gi = s0 * p0[i]! + s1 * p1[i]!
        const si = (ms[i] = ms[i]! * decay + gi * gi * (1 - decay))
        const pi = (mom[i] = mom[i]! * momentum + (gi * lr) / Math.sqrt(si + epsilon))
        w[i] = w[i]! - pi
      }
    } else {
      const lr = (this.optimizer as unknown as { learningRate: number }).learningRate
      for (let i = 0; i < n; i++) w[i] = w[i]! - lr * (s0 * p0[i]! + s1 * p1[i]!)
    }
    ;(this.optimizer as unknown as Counting).incrementIterations()
  }

  private scratch: Float32Array | null = null
  private sum(parts: Float32Array[], scales: number[]): Float32Array {
    const g = (this.scratch ??= new Float32Array(this.size))
    g.fill(0)
    parts.forEach((p, k) => {
      const sk = scales[k]!
      for (let i = 0; i < this.size; i++) g[i]! += sk * p[i]!
    })
    return g
  }
}
