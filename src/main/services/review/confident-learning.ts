/**
 * Confident learning (Northcutt, Jiang & Chuang, JAIR 2021), as cleanlab's
 * filter.find_label_issues(filter_by='prune_by_noise_rate') does it, on out-of-sample
 * probabilities `probs` (n x k, row-major) and given labels.
 */

export interface LabelIssue {
  index: number
  /** argmax of p over the other classes that clear their threshold (else over all other classes). */
  suggested: number
  /** p[label]: the rank key (ascending). */
  selfConfidence: number
  /** p[label] - max over the other classes. */
  margin: number
}

/** t_j = mean p_j over the images labelled j (classes without images get Infinity: never confident). */
export function confidentThresholds(labels: Int32Array, probs: Float32Array, k: number): Float64Array {
  const sum = new Float64Array(k)
  const count = new Float64Array(k)
  for (let i = 0; i < labels.length; i++) {
    sum[labels[i]] += probs[i * k + labels[i]]
    count[labels[i]]++
  }
  return sum.map((s, j) => (count[j] > 0 ? s / count[j] : Infinity))
}

function argmax(p: Float32Array, from: number, k: number, skip = -1): number {
  let best = -1
  for (let j = 0; j < k; j++) if (j !== skip && (best < 0 || p[from + j] > p[from + best])) best = j
  return best
}

/**
 * The confident joint C[given][guessed]: each image counted where its probability clears a
 * class's threshold (the largest such class when several do), the diagonal at least 1, then
 * calibrated so each row sums to that label's count (cleanlab's calibrate_confident_joint).
 */
export function confidentJoint(labels: Int32Array, probs: Float32Array, k: number, t: Float64Array): number[][] {
  const cj = Array.from({ length: k }, () => new Array<number>(k).fill(0))
  const labelCounts = new Array<number>(k).fill(0)
  for (let i = 0; i < labels.length; i++) {
    labelCounts[labels[i]]++
    let confident = 0
    let only = -1
    for (let j = 0; j < k; j++)
      if (probs[i * k + j] >= t[j] - 1e-6) {
        confident++
        if (only < 0) only = j
      }
    if (confident === 0) continue
    cj[labels[i]][confident > 1 ? argmax(probs, i * k, k) : only]++
  }
  for (let j = 0; j < k; j++) cj[j][j] = Math.max(1, cj[j][j])
  const rows = cj.map((row, j) => {
    const s = row.reduce((a, b) => a + b, 0)
    return row.map((c) => (c / Math.max(s, 1e-12)) * labelCounts[j])
  })
  const total = rows.flat().reduce((a, b) => a + b, 0)
  const n = labelCounts.reduce((a, b) => a + b, 0)
  return rows.map((row) => roundPreservingSum(row.map((c) => (c / Math.max(total, 1e-12)) * n)))
}

/** Rounds to integers whose sum is the rounded sum, moving the largest remainders (cleanlab's round_preserving_sum). */
export function roundPreservingSum(values: number[]): number[] {
  const ints = values.map((v) => Math.round(v))
  let diff = Math.round(values.reduce((a, b) => a + b, 0)) - ints.reduce((a, b) => a + b, 0)
  const order = values.map((_, i) => i).sort((a, b) => values[b] - ints[b] - (values[a] - ints[a]))
  const step = diff > 0 ? 1 : -1
  const pick = diff > 0 ? order : order.slice().reverse()
  for (let n = 0; diff !== 0; n++, diff -= step) ints[pick[n % pick.length]] += step
  return ints
}

/**
 * prune_by_noise_rate: for each given class i and other class j, the C[i][j] images labelled i
 * with the largest margin p_j - p_i are issues; images whose argmax is their label are not.
 * Returned most suspect first (self-confidence ascending, then margin).
 */
export function findLabelIssues(labels: Int32Array, probs: Float32Array, k: number): { issues: LabelIssue[]; thresholds: Float64Array } {
  const t = confidentThresholds(labels, probs, k)
  const cj = confidentJoint(labels, probs, k, t)
  const byClass: number[][] = Array.from({ length: k }, () => [])
  labels.forEach((l, i) => byClass[l].push(i))
  const flagged = new Set<number>()
  for (let i = 0; i < k; i++) {
    // cleanlab keeps at least one image per class (min_examples_per_class=1).
    if (byClass[i].length <= 1) continue
    for (let j = 0; j < k; j++) {
      const prune = j === i ? 0 : cj[i][j]
      if (prune <= 0) continue
      const ranked = byClass[i].slice().sort((a, b) => probs[b * k + j] - probs[b * k + i] - (probs[a * k + j] - probs[a * k + i]) || a - b)
      for (const x of ranked.slice(0, prune)) flagged.add(x)
    }
  }
  const issues: LabelIssue[] = []
  for (const index of flagged) {
    const label = labels[index]
    const at = index * k
    if (argmax(probs, at, k) === label) continue
    let suggested = -1
    for (let j = 0; j < k; j++) if (j !== label && probs[at + j] >= t[j] - 1e-6 && (suggested < 0 || probs[at + j] > probs[at + suggested])) suggested = j
    if (suggested < 0) suggested = argmax(probs, at, k, label)
    const self = probs[at + label]
    issues.push({ index, suggested, selfConfidence: self, margin: self - probs[at + argmax(probs, at, k, label)] })
  }
  issues.sort((a, b) => a.selfConfidence - b.selfConfidence || a.margin - b.margin || a.index - b.index)
  return { issues, thresholds: t }
}
