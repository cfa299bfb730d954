import type { ReliabilityBin } from '../../../shared/calibration'

/** Top-1 confidence and correctness of each row of n*k probabilities (ties: lower index). */
export function topConfidences(probs: ArrayLike<number>, k: number, labels: ArrayLike<number>): { confidence: Float64Array; correct: Uint8Array } {
  const n = labels.length
  const confidence = new Float64Array(n)
  const correct = new Uint8Array(n)
  for (let r = 0; r < n; r++) {
    let best = 0
    for (let j = 1; j < k; j++) if (probs[r * k + j] > probs[r * k + best]) best = j
    confidence[r] = probs[r * k + best]
    correct[r] = best === labels[r] ? 1 : 0
  }
  return { confidence, correct }
}

/** The bin of confidence c among b equal-width bins (lower, upper] over [0, 1], as Guo et al.'s code (0 joins the first). */
function binOf(c: number, bins: number): number {
  let b = Math.ceil(c * bins) - 1
  // c * bins can round across an edge: compare with the edges themselves
  if (b > 0 && c <= b / bins) b--
  else if (b < bins - 1 && c > (b + 1) / bins) b++
  return Math.min(bins - 1, Math.max(0, b))
}

/** Equal-width bins over [0, 1]: bin i holds the confidences in (i/b, (i+1)/b] (Guo et al. 2017's reference code). */
export function reliabilityBins(confidence: ArrayLike<number>, correct: ArrayLike<number>, bins: number): ReliabilityBin[] {
  const count = new Array<number>(bins).fill(0)
  const hits = new Array<number>(bins).fill(0)
  const conf = new Array<number>(bins).fill(0)
  for (let i = 0; i < confidence.length; i++) {
    const b = binOf(confidence[i], bins)
    count[b]++
    hits[b] += correct[i]
    conf[b] += confidence[i]
  }
  return count.map((c, i) => ({
    lower: i / bins,
    upper: (i + 1) / bins,
    count: c,
    accuracy: c ? hits[i] / c : null,
    confidence: c ? conf[i] / c : null,
  }))
}

/** Expected calibration error: sum over bins of |accuracy - confidence| weighted by the bin's share of images. */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number {
  const n = bins.reduce((a, b) => a + b.count, 0)
  if (!n) return 0
  return bins.reduce((a, b) => a + (b.count ? (b.count / n) * Math.abs(b.accuracy! - b.confidence!) : 0), 0)
}
