import type { Split } from '../../../shared/project'

export interface GoldenItem {
  id: number
  label: number
  split: Split
  excluded?: boolean
  stale?: boolean
}

/**
 * The parity golden set: up to `max` usable items, stratified (round-robin over classes, in id order
 * within a class), from the test split if it has any, else validation, else train.
 */
export function pickGolden(items: readonly GoldenItem[], max: number): number[] {
  const usable = items.filter((it) => !it.excluded && !it.stale)
  let pool: GoldenItem[] = []
  for (const split of ['test', 'validation', 'train'] as Split[]) {
    pool = usable.filter((it) => it.split === split)
    if (pool.length) break
  }
  const byClass = new Map<number, number[]>()
  for (const it of [...pool].sort((a, b) => a.id - b.id)) {
    if (!byClass.has(it.label)) byClass.set(it.label, [])
    byClass.get(it.label)!.push(it.id)
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b)
  const out: number[] = []
  for (let round = 0; out.length < max; round++) {
    let took = false
    for (const c of classes) {
      const ids = byClass.get(c)!
      if (round < ids.length && out.length < max) {
        out.push(ids[round])
        took = true
      }
    }
    if (!took) break
  }
  return out
}
