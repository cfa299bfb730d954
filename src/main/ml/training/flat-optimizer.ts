/**
 * The optimizer step of data-parallel training over the flat weights the training threads share:
 * tfjs's Adam, RMSprop (not centered) and SGD updates as SIMD kernels (optimizer-step.wat) on
 * the step's shared memory, in place, with the optimizer's own slot variables as the state
 * between epochs. Through tfjs the same step costs ~116 small wasm kernels and a copy of every
 * gradient into the backend (~7 ms a step for the Fashion CNN, while the threads wait); a JS loop
 * ~1.9 ms; the kernel ~0.2 ms.
 *
 * `pull` reads the slots (creating missing ones as tfjs's applyGradients does: same names,
 * zeros, not trainable), `apply` updates weights and state in place, `push` writes the state
 * back so that checkpoints, resume and a later single-thread step see tfjs's own state.
 */
import * as tf from '@tensorflow/tfjs'
import type { StepMemory } from './step-memory'

interface Slot {
  originalName: string
  variable: tf.Variable
}

type AdamFields = { learningRate: number; beta1: number; beta2: number; epsilon: number; accBeta1: tf.Variable; accBeta2: tf.Variable; accumulatedFirstMoment: Slot[]; accumulatedSecondMoment: Slot[] }
type RmsFields = { learningRate: number; decay: number; momentum: number; epsilon: number; centered: boolean; accumulatedMeanSquares: Slot[]; accumulatedMoments: Slot[] }
type Counting = { incrementIterations(): void }

export const FLAT_OPTIMIZERS = ['Adam', 'RMSProp', 'SGD'] as const

/** Where the optimizer works: views of the step memory for its two slots (Adam's m and v, RMSprop's mean squares and moments) and, for more than two threads, the summed gradient. */
export interface OptimizerSpace {
  memory: StepMemory
  state: [Float32Array, Float32Array]
  scratch: Float32Array | null
}

/** The optimizer's views of `memory` for `size` weights and `threads` slice gradients. */
export function optimizerSpace(memory: StepMemory, size: number, threads: number): OptimizerSpace {
  return { memory, state: [memory.alloc(size), memory.alloc(size)], scratch: threads > 2 ? memory.alloc(size) : null }
}

export class FlatOptimizer {
  private readonly size: number
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
    private readonly space: OptimizerSpace,
  ) {
    const cls = FlatOptimizer.kind(optimizer)
    if (!(FLAT_OPTIMIZERS as readonly string[]).includes(cls) || (cls === 'RMSProp' && (optimizer as unknown as RmsFields).centered))
      throw new Error(`Training threads update weights with Adam, RMSprop (not centered) or SGD; this run's optimizer is ${cls}.`)
    this.size = space.state[0].length
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
        this.space.state[s].set(list[i]!.variable.dataSync() as Float32Array, this.offsets[i])
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
        this.vars.forEach((v, i) => list[i]!.variable.assign(tf.tensor(this.space.state[s].subarray(this.offsets[i], this.offsets[i]! + v.size), v.shape)))
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
   * slice gradients weighted by slice size: the batch mean). Every array is a view of the step
   * memory (its byteOffset is its address there).
   */
  apply(w: Float32Array, parts: Float32Array[], scales: number[]): void {
    const { memory, state, scratch } = this.space
    const K = memory.kernels
    const n = this.size
    if ([w, ...parts].some((a) => a.buffer !== memory.buffer)) throw new Error('the optimizer step needs the weights and gradients in the step memory')
    let g0 = parts[0]!.byteOffset
    let s0 = scales[0]!
    let g1 = parts.length > 1 ? parts[1]!.byteOffset : g0
    let s1 = parts.length > 1 ? scales[1]! : 0
    if (parts.length > 2) {
      const g = scratch!.byteOffset
      K.combine(g, g0, g1, n, s0, s1)
      for (let k = 2; k < parts.length; k++) K.combine(g, g, parts[k]!.byteOffset, n, 1, scales[k]!)
      ;[g0, g1, s0, s1] = [g, g, 1, 0]
    }
    const at = w.byteOffset
    const [a, b] = [state[0].byteOffset, state[1].byteOffset]
    const kind = FlatOptimizer.kind(this.optimizer)
    if (kind === 'Adam') {
      const { learningRate, beta1, beta2, epsilon } = this.optimizer as unknown as AdamFields
      // tfjs: w -= lr * (m / d1) / (sqrt(v / d2) + eps), with d = 1 - beta^t; the same as
      // w -= k * m / (sqrt(v) + eps * sqrt(d2)) with k = lr * sqrt(d2) / d1: one division, not three.
      const d1 = Math.fround(1 - this.accBeta1)
      const d2 = Math.fround(1 - this.accBeta2)
      K.adam(at, g0, g1, a, b, n, s0, s1, beta1, beta2, 1 - beta1, 1 - beta2, (learningRate * Math.sqrt(d2)) / d1, epsilon * Math.sqrt(d2))
      // tfjs multiplies by beta as a float32 scalar.
      this.accBeta1 = Math.fround(this.accBeta1 * Math.fround(beta1))
      this.accBeta2 = Math.fround(this.accBeta2 * Math.fround(beta2))
    } else if (kind === 'RMSProp') {
      const { decay, momentum, epsilon, learningRate } = this.optimizer as unknown as RmsFields
      K.rmsprop(at, g0, g1, a, b, n, s0, s1, decay, 1 - decay, momentum, learningRate, epsilon)
    } else {
      K.sgd(at, g0, g1, n, s0, s1, (this.optimizer as unknown as { learningRate: number }).learningRate)
    }
    ;(this.optimizer as unknown as Counting).incrementIterations()
  }
}
