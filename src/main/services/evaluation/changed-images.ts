import type { EvaluatedItem } from '../../../shared/evaluation'
import { changeKind, type ChangeKind, type ChangedImage, type CompareCounts } from '../../../shared/compare'

const ORDER: Record<ChangeKind, number> = { fixed: 0, broke: 1, bothWrong: 2 }

/**
 * The images two evaluations of the same split answer differently (by predicted label name, so
 * runs trained on differently ordered classes compare right), fixed first, then broke, then
 * both wrong, by id within each; and how many of each. Images only one evaluation holds are
 * left out of both the list and `images`.
 */
export function changedImages(a: readonly EvaluatedItem[], b: readonly EvaluatedItem[]): { changed: ChangedImage[]; counts: CompareCounts } {
  const byId = new Map(b.map((it) => [it.id, it]))
  const changed: ChangedImage[] = []
  let images = 0
  for (const x of a) {
    const y = byId.get(x.id)
    if (!y) continue
    images++
    if (x.predLabel === y.predLabel) continue
    changed.push({ id: x.id, file: x.src ?? y.src ?? '', label: x.trueLabel, a: { predicted: x.predLabel, confidence: x.confidence }, b: { predicted: y.predLabel, confidence: y.confidence } })
  }
  changed.sort((p, q) => ORDER[changeKind(p)] - ORDER[changeKind(q)] || p.id - q.id)
  const counts: CompareCounts = { images, changed: changed.length, fixed: 0, broke: 0, bothWrong: 0 }
  for (const c of changed) counts[changeKind(c)]++
  return { changed, counts }
}
