import type * as tf from '@tensorflow/tfjs'
import type { PreprocessSpec } from '../../../shared/models'
import type { ProjectSettings, Split } from '../../../shared/project'
import type { Progress } from '../../../shared/contract'
import type { UnknownThreshold } from '../../../shared/calibration'

/**
 * What evaluation needs from the training and datasets services. Kept as a small interface
 * so evaluate/predict can be tested with a model saved into a temporary run folder, and so
 * they stay independent of how training lays out its runs.
 */
export interface RunModel {
  model: tf.LayersModel
  /** Class names, index i = output unit i. */
  labels: string[]
  /** The pixel transform the model was trained with (applied to 0..255 NHWC pixels). */
  preprocess: PreprocessSpec
  /** The project's image settings the run was trained with (size, resize mode, channels). */
  settings: ProjectSettings
  /** The run folder name under <P>/runs/; used for the evaluation cache. */
  runId?: string
  /** The run's fitted temperature (calibration.json); absent when none was fitted (T = 1). */
  temperature?: number
  /** The "unknown" thresholds chosen on validation with the calibrated probabilities (calibration.json). */
  unknownThresholds?: UnknownThreshold[]
}

export interface EvalBatch {
  ids: Int32Array
  labels: Int32Array
  /** n*h*w*c uint8 pixels, NHWC. */
  x: Uint8Array
  shape: [number, number, number, number]
}

export interface EvaluationDeps {
  loadRunModel(projectDir: string, runId?: string): Promise<RunModel>
  batches(
    projectDir: string,
    split: Split,
    opts: { batchSize: number; shuffle: boolean; seed?: number; signal?: AbortSignal },
  ): AsyncIterable<EvalBatch>
  decodeForModel(file: string | Uint8Array, settings: ProjectSettings): Promise<Uint8Array>
  /**
   * Without loading the model: the run that `runId` (or the default run) names, and a key that
   * changes whenever the cached evaluation would be stale (new checkpoint, split changed,
   * images excluded or relabelled). Null when unknown (no caching then).
   */
  evaluationKey?(projectDir: string, split: Split, runId?: string): Promise<{ runId: string; key: string; size: number } | null>
  /** Cached pixels of one dataset item (what the model saw), for saliency; optional. */
  readItem?(projectDir: string, id: number): Promise<Uint8Array>
  /** Source file of a dataset item (for "open file location" in the gallery); optional. */
  sourcesOf?(projectDir: string, ids: readonly number[]): Promise<(string | undefined)[]>
}

export interface Ctl {
  onProgress?: (p: Progress) => void
  signal?: AbortSignal
}
