import type { UnknownThreshold } from '../../../shared/calibration'

/**
 * The lowest top-1 threshold whose answered images (confidence >= threshold) reach the target
 * precision, i.e. the one that answers "unknown" least often. Images of equal confidence are
 * answered together, so a threshold only sits where the confidence changes.
 */
export function unknownThreshold(confidence: ArrayLike<number>, correct: ArrayLike<number>, targetPrecision: number): UnknownThreshold {
  const n = confidence.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => confidence[b] - confidence[a])
  let hits = 0
  let best: UnknownThreshold = { targetPrecision, threshold: null, precision: null, unknownRate: null }
  for (let m = 1; m <= n; m++) {
    hits += correct[order[m - 1]]
    const tieFollows = m < n && confidence[order[m]] === confidence[order[m - 1]]
    if (tieFollows || hits / m < targetPrecision) continue
    best = { targetPrecision, threshold: confidence[order[m - 1]], precision: hits / m, unknownRate: (n - m) / n }
  }
  return best
}
