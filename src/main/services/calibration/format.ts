import type { CalibrationReport, ReliabilityBin, UnknownThreshold } from '../../../shared/calibration'

const pct = (x: number | null) => (x == null ? '-' : `${(x * 100).toFixed(1)}%`)

/** "for 95% precision: --threshold 0.834 labels 88.0% of the images (95.2% of them right); 12.0% are 'unknown'" */
export function describeThreshold(t: UnknownThreshold, split: string, chosenOn = split): string {
  const target = `for ${pct(t.targetPrecision)} precision${chosenOn === split ? '' : ` on ${chosenOn}`}`
  if (t.threshold == null) return `${target}: no threshold reaches it on ${chosenOn}`
  return `${target}: --threshold ${t.threshold.toFixed(3)} labels ${pct(1 - t.unknownRate!)} of the ${split} images (${pct(t.precision)} of them right); ${pct(t.unknownRate)} are 'unknown'`
}

function binRows(before: ReliabilityBin[], after: ReliabilityBin[]): string[] {
  const rows = ['  confidence    images  accuracy  confidence   | calibrated: images  accuracy  confidence']
  before.forEach((b, i) => {
    const a = after[i]
    if (!b.count && !a.count) return
    const range = `${b.lower.toFixed(2)}-${b.upper.toFixed(2)}`
    rows.push(`  ${range.padEnd(12)}${String(b.count).padStart(8)}${pct(b.accuracy).padStart(10)}${pct(b.confidence).padStart(12)}   |${String(a.count).padStart(19)}${pct(a.accuracy).padStart(10)}${pct(a.confidence).padStart(12)}`)
  })
  return rows
}

/** The CLI's text of a calibration report; `bins` adds the reliability table. */
export function formatCalibration(c: CalibrationReport, split: string, bins: boolean): string {
  const chosenOn = c.thresholdsChosenOn ?? split
  const t = c.fitted ? `temperature ${c.temperature.toFixed(3)} (fitted on validation)` : 'no temperature fitted (T = 1; evaluate --calibration fits one)'
  const lines = [
    c.fitted
      ? `Calibration: ${t}; expected calibration error on ${split} ${pct(c.eceBefore)} before, ${pct(c.eceAfter)} after (${c.bins} bins); probabilities shown are ${c.applied ? 'calibrated' : 'uncalibrated'}.`
      : `Calibration: ${t}; expected calibration error on ${split} ${pct(c.eceBefore)} (${c.bins} bins).`,
    ...(bins ? binRows(c.before, c.after) : []),
    `The 'unknown' threshold (predict --threshold)${c.fitted ? ', on the calibrated probabilities' : ''}, chosen on ${chosenOn}:`,
    ...c.unknownThresholds.map((u) => `  ${describeThreshold(u, split, chosenOn)}`),
  ]
  return lines.join('\n')
}
