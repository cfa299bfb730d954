import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { expectedCalibrationError, reliabilityBins, topConfidences } from '../../src/main/services/calibration/reliability'
import { applyTemperature, fitTemperature, logitsOf, temperatureNll } from '../../src/main/services/calibration/temperature'
import { atThreshold, unknownThreshold } from '../../src/main/services/calibration/unknown-threshold'
import { calibrationReport, fitRunCalibration } from '../../src/main/services/calibration/report'
import { formatCalibration } from '../../src/main/services/calibration/format'
import { mulberry32 } from '../../src/main/ml/training/rng'

interface GoldenCase {
  probs: number[][]
  labels: number[]
  classes: number
  ece: number
  temperature: number
  eceCalibrated: number
  nll: number
  nllCalibrated: number
}
const golden = JSON.parse(readFileSync('test/fixtures/calibration.json', 'utf8')) as { bins: number; cases: GoldenCase[] }

const ece = (probs: ArrayLike<number>, k: number, labels: ArrayLike<number>, bins: number) => {
  const { confidence, correct } = topConfidences(probs, k, labels)
  return expectedCalibrationError(reliabilityBins(confidence, correct, bins))
}

describe('expected calibration error', () => {
  it('matches a hand-computed example (10 bins)', () => {
    // confidences .95 (right), .85 (wrong), .75 and .72 (both right, one bin), .55 (wrong):
    // 1/5*|1-.95| + 1/5*|0-.85| + 2/5*|1-.735| + 1/5*|0-.55| = .01 + .17 + .106 + .11
    const probs = [0.95, 0.05, 0.15, 0.85, 0.75, 0.25, 0.28, 0.72, 0.55, 0.45]
    const labels = [0, 0, 0, 1, 1]
    const { confidence, correct } = topConfidences(probs, 2, labels)
    const bins = reliabilityBins(confidence, correct, 10)
    expect(bins.map((b) => b.count)).toEqual([0, 0, 0, 0, 0, 1, 0, 2, 1, 1])
    expect(bins[7].accuracy).toBe(1)
    expect(bins[7].confidence).toBeCloseTo(0.735, 12)
    expect(bins[0]).toEqual({ lower: 0, upper: 0.1, count: 0, accuracy: null, confidence: null })
    expect(expectedCalibrationError(bins)).toBeCloseTo(0.396, 12)
  })

  it('bins (lower, upper] like Guo et al.\'s code: an edge belongs to the bin below it, 1 to the last', () => {
    const bins = reliabilityBins([1, 0.5, 0.6, 0.61, 0.3], [1, 0, 1, 1, 0], 10)
    expect(bins.map((b) => b.count)).toEqual([0, 0, 1, 0, 1, 1, 1, 0, 0, 1])
    // 15 bins: 0.2 and 0.4 are the edges 3/15 and 6/15; just above one is the next bin
    expect(reliabilityBins([0.2, 0.4, 0.2000001], [1, 1, 1], 15).map((b) => b.count)).toEqual([0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
  })

  it.each(golden.cases.map((c, i) => [i, c] as const))('matches PyTorch (Guo et al.\'s _ECELoss) on case %i', (_, c) => {
    expect(ece(c.probs.flat(), c.classes, c.labels, golden.bins)).toBeCloseTo(c.ece, 12)
  })
})

describe('temperature scaling', () => {
  it.each(golden.cases.map((c, i) => [i, c] as const))('fits the temperature SciPy finds, and the same NLL and ECE after (case %i)', (_, c) => {
    const logits = logitsOf(c.probs.flat())
    const t = fitTemperature(logits, c.classes, c.labels)
    expect(t).toBeCloseTo(c.temperature, 4)
    expect(temperatureNll(logits, c.classes, c.labels, 1)).toBeCloseTo(c.nll, 10)
    expect(temperatureNll(logits, c.classes, c.labels, t)).toBeCloseTo(c.nllCalibrated, 8)
    expect(ece(applyTemperature(c.probs.flat(), c.classes, t), c.classes, c.labels, golden.bins)).toBeCloseTo(c.eceCalibrated, 5)
  })

  it('recovers a known temperature from labels drawn from softmax(z / 2.5)', () => {
    const rand = mulberry32(3)
    const n = 6000
    const k = 5
    const logits = Float64Array.from({ length: n * k }, () => (rand() - 0.5) * 12)
    const labels = Array.from({ length: n }, (_, r) => {
      const p = Array.from({ length: k }, (_, j) => Math.exp(logits[r * k + j] / 2.5))
      let u = rand() * p.reduce((a, b) => a + b)
      let j = 0
      while (u > p[j] && j < k - 1) u -= p[j++]
      return j
    })
    expect(fitTemperature(logits, k, labels)).toBeGreaterThan(2.5 * 0.93)
    expect(fitTemperature(logits, k, labels)).toBeLessThan(2.5 * 1.07)
  })

  it('applyTemperature is softmax(z / T) from probabilities alone, and T = 1 changes nothing', () => {
    const z = [2, -1, 0.5]
    const e = z.map((v) => Math.exp(v))
    const p = e.map((v) => v / e.reduce((a, b) => a + b))
    const scaled = z.map((v) => Math.exp(v / 3))
    const want = scaled.map((v) => v / scaled.reduce((a, b) => a + b))
    Array.from(applyTemperature(p, 3, 3)).forEach((v, i) => expect(v).toBeCloseTo(want[i], 7))
    Array.from(applyTemperature(p, 3, 1)).forEach((v, i) => expect(v).toBeCloseTo(p[i], 7))
  })

  it('lowers ECE on an overconfident model and keeps every prediction (fitRunCalibration)', () => {
    const c = golden.cases[1]
    const fit = fitRunCalibration(c.probs.flat(), c.classes, c.labels, new Date('2026-01-01'))
    expect(fit).toMatchObject({ split: 'validation', images: 200, fittedAt: '2026-01-01T00:00:00.000Z' })
    expect(fit.temperature).toBeGreaterThan(1)
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore)
    expect(fit.eceAfter).toBeLessThan(fit.eceBefore)
    const before = topConfidences(c.probs.flat(), c.classes, c.labels).correct
    const after = topConfidences(applyTemperature(c.probs.flat(), c.classes, fit.temperature), c.classes, c.labels).correct
    expect(Array.from(after)).toEqual(Array.from(before))
  })
})

describe('unknown threshold for a target precision', () => {
  it('answers as many images as the target allows', () => {
    const conf = [0.9, 0.8, 0.7, 0.6]
    const correct = [1, 1, 0, 1]
    expect(unknownThreshold(conf, correct, 0.75)).toEqual({ targetPrecision: 0.75, threshold: 0.6, precision: 0.75, unknownRate: 0 })
    expect(unknownThreshold(conf, correct, 0.9)).toEqual({ targetPrecision: 0.9, threshold: 0.8, precision: 1, unknownRate: 0.5 })
  })

  it('answers images of equal confidence together, and says when no threshold reaches the target', () => {
    expect(unknownThreshold([0.9, 0.9, 0.5], [1, 0, 1], 1)).toEqual({ targetPrecision: 1, threshold: null, precision: null, unknownRate: null })
  })

  it('a threshold chosen elsewhere: the precision and the unknown share it gives on these images', () => {
    const chosen = { targetPrecision: 0.9, threshold: 0.75, precision: 0.93, unknownRate: 0.2 }
    expect(atThreshold([0.9, 0.8, 0.75, 0.6], [1, 0, 1, 1], chosen)).toEqual({ targetPrecision: 0.9, threshold: 0.75, precision: 2 / 3, unknownRate: 0.25 })
    expect(atThreshold([0.9], [1], { ...chosen, threshold: null })).toEqual({ targetPrecision: 0.9, threshold: null, precision: null, unknownRate: null })
  })

  it('the report keeps thresholds chosen on validation when evaluating another split', () => {
    const c = golden.cases[2]
    const chosen = [{ targetPrecision: 0.9, threshold: 0.5, precision: 0.91, unknownRate: 0.4 }]
    const r = calibrationReport(c.probs.flat(), c.classes, c.labels, c.temperature, { fitted: true, applied: true, split: 'test', chosen })
    expect(r.thresholdsChosenOn).toBe('validation')
    const after = topConfidences(applyTemperature(c.probs.flat(), c.classes, c.temperature), c.classes, c.labels)
    expect(r.unknownThresholds).toEqual([atThreshold(after.confidence, after.correct, chosen[0])])
    expect(calibrationReport(c.probs.flat(), c.classes, c.labels, c.temperature, { fitted: true, applied: true, split: 'test' }).thresholdsChosenOn).toBe('test')
  })

  it('is part of the calibration report, on the calibrated probabilities', () => {
    const c = golden.cases[1]
    const r = calibrationReport(c.probs.flat(), c.classes, c.labels, c.temperature, { fitted: true, applied: true })
    expect(r.bins).toBe(15)
    expect(r.eceBefore).toBeCloseTo(c.ece, 12)
    expect(r.eceAfter).toBeCloseTo(c.eceCalibrated, 5)
    expect(r.unknownThresholds.map((u) => u.targetPrecision)).toEqual([0.9, 0.95, 0.99])
    for (const u of r.unknownThresholds) if (u.precision != null) expect(u.precision).toBeGreaterThanOrEqual(u.targetPrecision)
    expect(r.after.reduce((a, b) => a + b.count, 0)).toBe(200)
  })
})

describe('the CLI text of a calibration report', () => {
  const c = golden.cases[1]
  it('states T, ECE before and after, and each threshold with the share of images it labels', () => {
    const r = calibrationReport(c.probs.flat(), c.classes, c.labels, c.temperature, { fitted: true, applied: true })
    const text = formatCalibration(r, 'validation', false).split('\n')
    expect(text[0]).toBe(`Calibration: temperature ${c.temperature.toFixed(3)} (fitted on validation); expected calibration error on validation ${(c.ece * 100).toFixed(1)}% before, ${(r.eceAfter * 100).toFixed(1)}% after (15 bins); probabilities shown are calibrated.`)
    const u = r.unknownThresholds[0]
    expect(text).toContain(`  for 90.0% precision: --threshold ${u.threshold!.toFixed(3)} labels ${((1 - u.unknownRate!) * 100).toFixed(1)}% of the validation images (${(u.precision! * 100).toFixed(1)}% of them right); ${(u.unknownRate! * 100).toFixed(1)}% are 'unknown'`)
    // the reliability table only on request, one row per non-empty bin
    const withBins = formatCalibration(r, 'validation', true).split('\n')
    expect(withBins.length - text.length).toBe(1 + r.before.filter((b, i) => b.count || r.after[i].count).length)
  })

  it('without a fitted temperature: one ECE, no "after"', () => {
    const r = calibrationReport(c.probs.flat(), c.classes, c.labels, 1, { fitted: false, applied: false })
    const first = formatCalibration(r, 'test', false).split('\n')[0]
    expect(first).toBe(`Calibration: no temperature fitted (T = 1; evaluate --calibration fits one); expected calibration error on test ${(c.ece * 100).toFixed(1)}% (15 bins).`)
  })
})
