import type { DatasetHealth, DuplicateGroup } from '../../../shared/datasets'
import type { Split } from '../../../shared/project'
import type { DatasetIndex } from './cache'

export function activeItems(idx: DatasetIndex) {
  return idx.items.filter((it) => !it.excluded && !it.stale)
}

export function splitCounts(idx: DatasetIndex) {
  const s = { train: 0, validation: 0, test: 0 }
  for (const it of activeItems(idx)) s[it.split]++
  return s
}

export function classCounts(idx: DatasetIndex) {
  const c = idx.classes.map((name) => ({ name, count: 0 }))
  for (const it of activeItems(idx)) c[it.label].count++
  return c
}

export function duplicates(idx: DatasetIndex, maxExamples = 20) {
  const groups = new Map<string, number[]>()
  for (const it of activeItems(idx)) {
    const g = groups.get(it.hash)
    if (g) g.push(it.id)
    else groups.set(it.hash, [it.id])
  }
  let exact = 0
  let crossSplit = 0
  const examples: DuplicateGroup[] = []
  const cross: DuplicateGroup[] = []
  for (const ids of groups.values()) {
    if (ids.length < 2) continue
    exact += ids.length - 1
    const splits = ids.map((i) => idx.items[i].split)
    const g = { ids, sources: ids.map((i) => idx.items[i].src), splits }
    if (new Set<Split>(splits).size > 1) {
      crossSplit++
      if (cross.length < maxExamples) cross.push(g)
    } else if (examples.length < maxExamples) examples.push(g)
  }
  // Leaks first: they matter most.
  return { exact, crossSplit, examples: [...cross, ...examples].slice(0, maxExamples) }
}

/** How many small images the health report lists (with their ids, for thumbnails). */
export const SMALL_LIST_MAX = 500

/** The file name of a source path (POSIX or Windows separators; IDX/CSV records keep their #n). */
function basename(src: string): string {
  return src.split(/[\\/]/).pop() || src
}

/** Per-class counts, imbalance, duplicates/leakage and small-image warnings, in plain words. */
export function datasetHealth(idx: DatasetIndex): DatasetHealth & { duplicates: ReturnType<typeof duplicates> } {
  const perClass = idx.classes.map((name) => ({ name, train: 0, validation: 0, test: 0 }))
  const size = idx.settings.inputSize
  let smallImages = 0
  const smallExamples: string[] = []
  const small: { id: number; src: string; w: number; h: number }[] = []
  const active = activeItems(idx)
  for (const it of active) {
    perClass[it.label][it.split]++
    if (Math.min(it.w, it.h) < size / 2) {
      smallImages++
      small.push({ id: it.id, src: it.src, w: it.w, h: it.h })
    }
  }
  // smallest first: those suffer most from the enlargement
  small.sort((a, b) => Math.min(a.w, a.h) - Math.min(b.w, b.h) || a.id - b.id)
  for (const s of small.slice(0, 10)) smallExamples.push(s.src)
  const totals = perClass.map((c) => c.train + c.validation + c.test)
  const present = totals.filter((t) => t > 0)
  const max = present.length ? Math.max(...present) : 0
  const min = present.length ? Math.min(...present) : 0
  const imbalanceRatio = min > 0 ? max / min : 0
  const warnings: string[] = []
  if (idx.classes.length === 1) warnings.push(`Only one class ("${idx.classes[0]}"): a classifier needs at least two. Import a folder with one sub-folder per class.`)
  if (imbalanceRatio >= 1.5) {
    const big = perClass[totals.indexOf(max)].name
    const small = perClass[totals.indexOf(min)].name
    warnings.push(`Classes are imbalanced: "${big}" has ${max} images but "${small}" only ${min} (${imbalanceRatio.toFixed(1)}x). The model may favour the larger classes; add images to the small ones or use class weights.`)
  }
  perClass.forEach((c, i) => {
    if (totals[i] > 0 && totals[i] < 10) warnings.push(`Class "${c.name}" has only ${totals[i]} images; aim for at least a few dozen per class.`)
  })
  const dup = duplicates(idx)
  if (dup.exact > 0) warnings.push(`${dup.exact} images are exact copies of others (same content).`)
  if (dup.crossSplit > 0)
    warnings.push(`${dup.crossSplit} images appear in more than one split (train/validation/test): this leaks training data into evaluation and makes scores look better than they are. Exclude the copies.`)
  if (smallImages > 0) {
    const named = small.slice(0, 3).map((s) => `${basename(s.src)} (${s.w}x${s.h})`)
    const more = smallImages > named.length ? ` and ${smallImages - named.length} more` : ''
    warnings.push(
      `${smallImages} image${smallImages === 1 ? ' is' : 's are'} much smaller than the ${size}-pixel input (shorter side under ${Math.ceil(size / 2)} px): ${named.join(', ')}${more}. ${smallImages === 1 ? 'It' : 'They'} will be enlarged and blurry.`,
    )
  }
  return { warnings, perClass, imbalanceRatio, smallImages, smallExamples, small: small.slice(0, SMALL_LIST_MAX), duplicates: dup }
}
