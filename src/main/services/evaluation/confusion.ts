/** Confusion matrix (sklearn.metrics.confusion_matrix layout: rows = true, columns = predicted). Pure TS. */
import type { Confusion, ConfusionMatrix, EvaluatedItem } from '../../../shared/evaluation'

export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, numClasses: number): ConfusionMatrix {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`confusionMatrix: numClasses must be a positive integer, got ${numClasses}.`)
  }
  if (yTrue.length !== yPred.length) {
    throw new Error(`confusionMatrix: yTrue has ${yTrue.length} entries but yPred has ${yPred.length}.`)
  }
  const counts = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0))
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]
    const p = yPred[i]
    if (!Number.isInteger(t) || t < 0 || t >= numClasses || !Number.isInteger(p) || p < 0 || p >= numClasses) {
      throw new Error(
        `confusionMatrix: sample ${i} has true=${t}, pred=${p}; both must be class indices in [0, ${numClasses - 1}].`,
      )
    }
    counts[t][p]++
  }
  return { counts, rowNormalized: normalizeRows(counts), total: yTrue.length }
}

/** counts / row sum, like sklearn's normalize='true' followed by np.nan_to_num (empty rows -> 0). */
export function normalizeRows(counts: number[][]): number[][] {
  return counts.map((row) => {
    const s = row.reduce((a, b) => a + b, 0)
    return row.map((v) => (s === 0 ? 0 : v / s))
  })
}

/** Off-diagonal cells, largest count first (ties: higher rate, then true index, then predicted index). */
export function topConfusions(counts: number[][], labels: readonly string[], limit = 10): Confusion[] {
  const out: Confusion[] = []
  counts.forEach((row, t) => {
    const s = row.reduce((a, b) => a + b, 0)
    row.forEach((c, p) => {
      if (t !== p && c > 0) {
        out.push({ trueIndex: t, predIndex: p, trueLabel: labels[t] ?? String(t), predLabel: labels[p] ?? String(p), count: c, rate: c / s })
      }
    })
  })
  out.sort((a, b) => b.count - a.count || b.rate - a.rate || a.trueIndex - b.trueIndex || a.predIndex - b.predIndex)
  return out.slice(0, Math.max(0, limit))
}

/**
 * The items of one confusion-matrix cell (true class `trueIndex`, predicted `predIndex`),
 * most confident first (ties by id), i.e. exactly the images counted in counts[trueIndex][predIndex].
 */
export function cellItems(evaluation: { items: EvaluatedItem[] }, trueIndex: number, predIndex: number): EvaluatedItem[] {
  return evaluation.items
    .filter((it) => it.trueIndex === trueIndex && it.predIndex === predIndex)
    .sort((a, b) => b.confidence - a.confidence || a.id - b.id)
}
