import { z } from 'zod'
import type { CalibrationReport } from './calibration'

/**
 * Evaluation & prediction: option schemas and result types (pure TS, shared by main,
 * CLI, web bridge and renderer).
 */

/** sklearn's `zero_division`: 'warn' acts as 0 and reports an UndefinedMetricWarning. */
export const ZeroDivision = z.union([z.literal('warn'), z.literal(0), z.literal(1)])
export type ZeroDivision = z.infer<typeof ZeroDivision>

/**
 * Which labels get a row in the report.
 * - 'all' (default, what the app uses): every project label, in project order, exactly like
 *   sklearn's `classification_report(y_true, y_pred, labels=range(K), target_names=labels)`.
 *   When some label is neither in y_true nor y_pred sklearn prints "micro avg" instead of
 *   "accuracy"; so do we.
 * - 'present': sklearn's default `labels=None`: only labels present in y_true ∪ y_pred,
 *   sorted by class index.
 */
export const ReportLabels = z.enum(['all', 'present'])
export type ReportLabels = z.infer<typeof ReportLabels>

export const ReportOptions = z.object({
  /** Digits of the text table (sklearn's `digits`); numbers in the object are never rounded. */
  digits: z.number().int().min(0).max(17).default(2),
  zeroDivision: ZeroDivision.default('warn'),
  labels: ReportLabels.default('all'),
})
export type ReportOptions = z.input<typeof ReportOptions>

export interface ReportRow {
  precision: number
  recall: number
  f1: number
  support: number
}

export interface ClassificationReport {
  /** Row names in table order. */
  labels: string[]
  /** Class index of each row (same order as `labels`). */
  classIndices: number[]
  perClass: Record<string, ReportRow>
  /**
   * sklearn's `accuracy` entry: micro-averaged precision, present when every reported label
   * occurs in y_true ∪ y_pred (then micro avg = accuracy). Otherwise null and the table
   * shows the `microAvg` row as "micro avg".
   */
  accuracy: number | null
  microIsAccuracy: boolean
  /** Micro average (the table's accuracy row prints its f1 and support). */
  microAvg: ReportRow
  macroAvg: ReportRow
  weightedAvg: ReportRow
  /** UndefinedMetricWarning messages (sklearn's exact text), deduplicated, in order. */
  warnings: string[]
  digits: number
  zeroDivision: ZeroDivision
}

export interface ConfusionMatrix {
  /** counts[true][pred] */
  counts: number[][]
  /** counts divided by their row sum (sklearn's normalize='true'); empty rows are 0. */
  rowNormalized: number[][]
  total: number
}

export interface Confusion {
  trueIndex: number
  predIndex: number
  trueLabel: string
  predLabel: string
  count: number
  /** count / row total (fraction of that true class predicted as predLabel). */
  rate: number
}

export const EvalSplit = z.enum(['validation', 'test'])
export type EvalSplit = z.infer<typeof EvalSplit>

export const EvaluateOptions = z.object({
  split: EvalSplit.default('validation'),
  runId: z.string().min(1).optional(),
  batchSize: z.number().int().min(1).max(4096).default(64),
  /** Recompute even if <P>/runs/<runId>/evaluation-<split>.json exists. */
  force: z.boolean().default(false),
  digits: z.number().int().min(0).max(17).default(2),
  /** Apply the run's fitted temperature to the probabilities (no effect on a run without one). */
  calibrated: z.boolean().default(true),
})
export type EvaluateOptions = z.input<typeof EvaluateOptions>

export interface TopK {
  label: string
  index: number
  probability: number
}

export interface EvaluatedItem {
  id: number
  trueIndex: number
  predIndex: number
  trueLabel: string
  predLabel: string
  confidence: number
  top3: TopK[]
  /** The image's source file (an IDX/CSV record is `path#n`), when known. */
  src?: string
}

export interface EvaluationResult {
  runId: string
  split: EvalSplit
  /** Fraction of items whose top-1 prediction equals the label. */
  accuracy: number
  /** Mean categorical cross-entropy (natural log, probabilities clipped to [1e-7, 1-1e-7] as Keras). */
  loss: number
  labels: string[]
  confusionMatrix: number[][]
  normalized: number[][]
  report: ClassificationReport
  /** sklearn-style text table of `report`. */
  reportText: string
  warnings: string[]
  items: EvaluatedItem[]
  createdAt: string
  /** Identifies the checkpoint + split contents this result was computed from (cache validity). */
  cacheKey?: string
  /** Reliability before/after the run's temperature; absent in evaluations cached before it existed. */
  calibration?: CalibrationReport
}

export const PredictOptions = z.object({
  top: z.number().int().min(1).max(1000).default(3),
  /** Below this top-1 probability the answer is "unknown". */
  threshold: z.number().min(0).max(1).optional(),
  runId: z.string().min(1).optional(),
  batchSize: z.number().int().min(1).max(1024).default(32),
  /** Apply the run's fitted temperature to the probabilities (no effect on a run without one). */
  calibrated: z.boolean().default(true),
})
export type PredictOptions = z.input<typeof PredictOptions>

export const UNKNOWN_LABEL = 'unknown'

export interface Prediction {
  file: string
  /** Top-1 label, or "unknown" below the threshold; '' when `error` is set. */
  label: string
  confidence: number
  top: { label: string; probability: number }[]
  error?: string
}

/**
 * The gradient saliency of one image (evaluation.saliency): where a change of the pixels
 * would change the model's belief in its predicted class most, as a heatmap over the image.
 */
export interface SaliencyOverlay {
  /** `id:<n>` for a dataset item, else the file path or upload name as given. */
  key: string
  /** PNG data URL of the image with the heatmap blended over it; absent when `error` is set. */
  dataUrl?: string
  /** The class the map explains (the predicted one) and its probability. */
  label?: string
  probability?: number
  error?: string
}
