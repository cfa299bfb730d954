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

/** What a threshold chosen elsewhere (on validation) gives on these images: precision of the answered ones and the share left "unknown". */
export function atThreshold(confidence: ArrayLike<number>, correct: ArrayLike<number>, chosen: UnknownThreshold): UnknownThreshold {
  const n = confidence.length
  if (chosen.threshold == null || !n) return { targetPrecision: chosen.targetPrecision, threshold: chosen.threshold, precision: null, unknownRate: null }
  let answered = 0
  let hits = 0
  for (let i = 0; i < n; i++) {
    if (confidence[i] < chosen.threshold) continue
    answered++
    hits += correct[i]
  }
  return { targetPrecision: chosen.targetPrecision, threshold: chosen.threshold, precision: answered ? hits / answered : null, unknownRate: (n - answered) / n }
}
