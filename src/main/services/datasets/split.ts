import { createHash } from 'node:crypto'
import type { Split } from '../../../shared/project'
import { mulberry32 } from '../../ml/training/rng'


/** Seeded Fisher-Yates shuffle, in place. */
export function shuffleInPlace<T>(a: T[] | Int32Array, seed: number): void {
  const r = mulberry32(seed)
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1))
    const t = a[i]
    a[i] = a[j]
    a[j] = t
  }
}

/**
 * Seeded stratified split: within each class, items are ordered by a seeded hash of their
 * content (identical images land next to each other, so mostly in the same split), then the
 * first round(n*test) go to test, the next round(n*val) to validation, the rest to train.
 * Depends only on (seed, content, class), not on file order, so it is reproducible.
 */
export function stratifiedSplit(items: { label: number; hash: string; src: string }[], val: number, test: number, seed: number): Split[] {
  const byClass = new Map<number, number[]>()
  items.forEach((it, i) => {
    const l = byClass.get(it.label)
    if (l) l.push(i)
    else byClass.set(it.label, [i])
  })
  const out: Split[] = new Array(items.length).fill('train')
  const key = (i: number) => createHash('sha1').update(`${seed}:${items[i].hash}`).digest('hex')
  for (const idxs of byClass.values()) {
    const keys = new Map(idxs.map((i) => [i, key(i)]))
    idxs.sort((a, b) => (keys.get(a)! < keys.get(b)! ? -1 : keys.get(a)! > keys.get(b)! ? 1 : items[a].src < items[b].src ? -1 : 1))
    const n = idxs.length
    const nTest = Math.round(n * test)
    const nVal = Math.round(n * val)
    idxs.forEach((i, k) => {
      out[i] = k < nTest ? 'test' : k < nTest + nVal ? 'validation' : 'train'
    })
  }
  return out
}
