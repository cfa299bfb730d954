/**
 * Calibration (shared by main, CLI and renderer): how far the model's confidence is from its
 * accuracy, and the temperature that brings them together (Guo et al. 2017).
 */

/** One equal-width confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  lower: number
  upper: number
  /** Images whose top-1 confidence falls into (lower, upper] (Guo et al.'s bins; the first also holds 0). */
  count: number
  /** Fraction of them predicted correctly; null when the bin is empty. */
  accuracy: number | null
  /** Their mean top-1 confidence; null when the bin is empty. */
  confidence: number | null
}

/** The "unknown" threshold that reaches a target precision, and what it costs. */
export interface UnknownThreshold {
  targetPrecision: number
  /** Answers below this top-1 probability are "unknown"; null when no threshold reaches the target. */
  threshold: number | null
  /** Precision of the answered images at that threshold. */
  precision: number | null
  /** Fraction of images answered "unknown". */
  unknownRate: number | null
}

/** What <P>/runs/<runId>/calibration.json holds (a run without one has T = 1). */
export interface RunCalibration {
  temperature: number
  split: 'validation'
  images: number
  nllBefore: number
  nllAfter: number
  eceBefore: number
  eceAfter: number
  /** Chosen on the validation split with the calibrated probabilities. */
  unknownThresholds: UnknownThreshold[]
  fittedAt: string
}

/** The calibration part of an evaluation. */
export interface CalibrationReport {
  /** The run's temperature (1 when none was fitted). */
  temperature: number
  fitted: boolean
  /** Whether the evaluation's probabilities (items, loss) are the calibrated ones. */
  applied: boolean
  bins: number
  eceBefore: number
  eceAfter: number
  before: ReliabilityBin[]
  after: ReliabilityBin[]
  /**
   * On the calibrated probabilities: the thresholds chosen on `thresholdsChosenOn` (validation when
   * the run has them: then precision and unknownRate are what they give on this split).
   */
  unknownThresholds: UnknownThreshold[]
  /** The split the thresholds were chosen on; absent in evaluations cached before it existed (this split). */
  thresholdsChosenOn?: string
}

export const RELIABILITY_BINS = 15
export const TARGET_PRECISIONS = [0.9, 0.95, 0.99]
