import { RELIABILITY_BINS, TARGET_PRECISIONS, type CalibrationReport, type RunCalibration, type UnknownThreshold } from '../../../shared/calibration'
import { expectedCalibrationError, reliabilityBins, topConfidences } from './reliability'
import { applyTemperature, fitTemperature, logitsOf, temperatureNll } from './temperature'
import { atThreshold, unknownThreshold } from './unknown-threshold'

/**
 * Reliability before and after temperature T for n*k raw probabilities and their labels, with
 * the "unknown" thresholds for the target precisions on the calibrated probabilities: those
 * `chosen` on validation (what they give on these images), else chosen on these images.
 */
export function calibrationReport(
  raw: ArrayLike<number>,
  k: number,
  labels: ArrayLike<number>,
  temperature: number,
  opts: { fitted: boolean; applied: boolean; bins?: number; split?: string; chosen?: readonly UnknownThreshold[] },
): CalibrationReport {
  const bins = opts.bins ?? RELIABILITY_BINS
  const before = topConfidences(raw, k, labels)
  const after = topConfidences(temperature === 1 ? raw : applyTemperature(raw, k, temperature), k, labels)
  const beforeBins = reliabilityBins(before.confidence, before.correct, bins)
  const afterBins = reliabilityBins(after.confidence, after.correct, bins)
  return {
    temperature,
    fitted: opts.fitted,
    applied: opts.applied,
    bins,
    eceBefore: expectedCalibrationError(beforeBins),
    eceAfter: expectedCalibrationError(afterBins),
    before: beforeBins,
    after: afterBins,
    unknownThresholds: opts.chosen ? opts.chosen.map((t) => atThreshold(after.confidence, after.correct, t)) : TARGET_PRECISIONS.map((t) => unknownThreshold(after.confidence, after.correct, t)),
    thresholdsChosenOn: opts.chosen ? 'validation' : (opts.split ?? 'validation'),
  }
}

/** Fits T on a validation split's n*k raw probabilities and labels: what calibration.json stores. */
export function fitRunCalibration(raw: ArrayLike<number>, k: number, labels: ArrayLike<number>, now = new Date()): RunCalibration {
  const logits = logitsOf(raw)
  const temperature = fitTemperature(logits, k, labels)
  const r = calibrationReport(raw, k, labels, temperature, { fitted: true, applied: true })
  return {
    temperature,
    split: 'validation',
    images: labels.length,
    nllBefore: temperatureNll(logits, k, labels, 1),
    nllAfter: temperatureNll(logits, k, labels, temperature),
    eceBefore: r.eceBefore,
    eceAfter: r.eceAfter,
    unknownThresholds: r.unknownThresholds,
    fittedAt: now.toISOString(),
  }
}
