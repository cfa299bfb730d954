import type { MonitorMode, MonitorName } from '../../../shared/training'

/**
 * Keras callbacks TF.js lacks, as plain state machines (keras/src/callbacks/early_stopping.py,
 * reduce_lr_on_plateau.py, model_checkpoint.py). The training loop calls onEpochEnd with the
 * epoch's logs and acts on the answer (stop / save / set the learning rate); weights are
 * handled by the loop so these classes stay testable without TensorFlow.
 */

export interface EpochLogs {
  loss: number
  accuracy: number
  val_loss?: number | null
  val_accuracy?: number | null
}

/** Keras 'auto': maximise accuracy-like quantities, minimise the rest (losses). */
export function resolveMode(monitor: string, mode: MonitorMode): 'min' | 'max' {
  if (mode !== 'auto') return mode
  return monitor.includes('acc') || monitor.includes('auc') || monitor.startsWith('fmeasure') ? 'max' : 'min'
}

export function monitorValue(logs: EpochLogs, monitor: MonitorName): number | null {
  const v = logs[monitor]
  return v == null || !Number.isFinite(v) ? null : v
}

/** Keras EarlyStopping._is_improvement: min_delta is subtracted in the monitored direction. */
export function isImprovement(current: number, reference: number | null, mode: 'min' | 'max', minDelta: number): boolean {
  if (reference == null) return true
  return mode === 'max' ? current - minDelta > reference : current + minDelta < reference
}

export interface EarlyStoppingState {
  wait: number
  stoppedEpoch: number
  best: number | null
  bestEpoch: number
}

/**
 * EarlyStopping(monitor, min_delta, patience, mode, restore_best_weights) as in Keras 3:
 * the first epoch with a value is the first best; `wait` counts epochs since the last
 * improvement; training stops when wait >= patience (and epoch > 0). With restore_best_weights
 * the loop keeps the best epoch's weights and puts them back at the end of training.
 */
export class EarlyStopping {
  readonly mode: 'min' | 'max'
  state: EarlyStoppingState = { wait: 0, stoppedEpoch: 0, best: null, bestEpoch: 0 }
  constructor(
    readonly monitor: MonitorName,
    readonly patience: number,
    mode: MonitorMode = 'auto',
    readonly minDelta = 0,
    readonly restoreBestWeights = false,
  ) {
    if (!Number.isInteger(patience) || patience < 0) throw new Error(`EarlyStopping patience must be a whole number >= 0, got ${patience}.`)
    if (minDelta < 0) throw new Error(`EarlyStopping min_delta must be >= 0, got ${minDelta}.`)
    this.mode = resolveMode(monitor, mode)
  }

  /** Returns whether this epoch is the new best (its weights should be kept) and whether to stop. */
  onEpochEnd(epoch: number, logs: EpochLogs): { improved: boolean; stop: boolean; missing: boolean } {
    const current = monitorValue(logs, this.monitor)
    if (current == null) return { improved: false, stop: false, missing: true }
    const s = this.state
    s.wait += 1
    if (isImprovement(current, s.best, this.mode, this.minDelta)) {
      s.best = current
      s.bestEpoch = epoch
      s.wait = 0
      return { improved: true, stop: false, missing: false }
    }
    if (s.wait >= this.patience && epoch > 0) {
      s.stoppedEpoch = epoch
      return { improved: false, stop: true, missing: false }
    }
    return { improved: false, stop: false, missing: false }
  }
}

export interface CheckpointState {
  best: number | null
  bestEpoch: number
}

/**
 * ModelCheckpoint(save_best_only=True): saves when the monitored value beats the best so far
 * (strictly; with min_delta when it shares EarlyStopping's rule so that checkpoints/best is
 * exactly the epoch EarlyStopping would restore).
 */
export class ModelCheckpoint {
  readonly mode: 'min' | 'max'
  state: CheckpointState = { best: null, bestEpoch: -1 }
  constructor(
    readonly monitor: MonitorName,
    mode: MonitorMode = 'auto',
    readonly minDelta = 0,
  ) {
    this.mode = resolveMode(monitor, mode)
  }

  onEpochEnd(epoch: number, logs: EpochLogs): { save: boolean; missing: boolean } {
    const current = monitorValue(logs, this.monitor)
    if (current == null) return { save: false, missing: true }
    if (isImprovement(current, this.state.best, this.mode, this.minDelta)) {
      this.state = { best: current, bestEpoch: epoch }
      return { save: true, missing: false }
    }
    return { save: false, missing: false }
  }
}

export interface ReduceLrState {
  best: number
  wait: number
  cooldownCounter: number
}

/** ReduceLROnPlateau as in Keras: lr *= factor after `patience` epochs without improvement. */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max'
  state: ReduceLrState
  constructor(
    readonly monitor: MonitorName,
    readonly factor = 0.1,
    readonly patience = 10,
    mode: MonitorMode = 'auto',
    readonly minDelta = 1e-4,
    readonly cooldown = 0,
    readonly minLr = 0,
  ) {
    if (!(factor < 1)) throw new Error(`ReduceLROnPlateau does not support a factor >= 1 (got ${factor}): it multiplies the learning rate by the factor.`)
    this.mode = resolveMode(monitor, mode)
    this.state = { best: this.mode === 'min' ? Infinity : -Infinity, wait: 0, cooldownCounter: 0 }
  }

  private better(a: number, b: number): boolean {
    return this.mode === 'min' ? a < b - this.minDelta : a > b + this.minDelta
  }

  /** Returns the learning rate to use from the next epoch on (the same one when nothing changes). */
  onEpochEnd(_epoch: number, logs: EpochLogs, lr: number): { lr: number; reduced: boolean; missing: boolean } {
    const current = monitorValue(logs, this.monitor)
    if (current == null) return { lr, reduced: false, missing: true }
    const s = this.state
    const inCooldown = () => s.cooldownCounter > 0
    if (inCooldown()) {
      s.cooldownCounter -= 1
      s.wait = 0
    }
    if (this.better(current, s.best)) {
      s.best = current
      s.wait = 0
    } else if (!inCooldown()) {
      s.wait += 1
      if (s.wait >= this.patience) {
        if (lr > Math.fround(this.minLr)) {
          const next = Math.max(lr * this.factor, this.minLr)
          s.cooldownCounter = this.cooldown
          s.wait = 0
          return { lr: next, reduced: true, missing: false }
        }
      }
    }
    return { lr, reduced: false, missing: false }
  }
}

/**
 * Balanced class weights as sklearn.utils.class_weight.compute_class_weight('balanced'):
 * n_samples / (n_classes * bincount(y)). Classes with no samples get weight 1 (sklearn would
 * refuse them; they never contribute to the loss anyway).
 */
export function balancedClassWeights(labels: ArrayLike<number>, numClasses: number): Float32Array {
  const counts = new Float64Array(numClasses)
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]
    if (l < 0 || l >= numClasses || !Number.isInteger(l)) throw new Error(`Label ${l} at index ${i} is outside 0..${numClasses - 1}.`)
    counts[l]++
  }
  const present = counts.filter((c) => c > 0).length
  const w = new Float32Array(numClasses)
  for (let c = 0; c < numClasses; c++) w[c] = counts[c] > 0 ? labels.length / (present * counts[c]) : 1
  return w
}
