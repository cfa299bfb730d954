import { InMemoryDataSource, type InMemorySplit } from '../../src/main/ml/training/data'
import { mulberry32 } from '../../src/main/ml/training/rng'

/**
 * A generated dataset for training tests: k classes of h x w x c images; class j has a bright
 * vertical band at a class-specific position on noise, so a small model learns it in a few
 * epochs. Deterministic for a seed.
 */
export function bandsDataset(o: { classes?: number; size?: number; channels?: 1 | 3; perClass?: Partial<Record<'train' | 'validation' | 'test', number[] | number>>; seed?: number } = {}): InMemoryDataSource {
  const k = o.classes ?? 2
  const size = o.size ?? 8
  const c = o.channels ?? 1
  const r = mulberry32(o.seed ?? 1)
  const per = size * size * c
  const splits: Partial<Record<'train' | 'validation' | 'test', InMemorySplit>> = {}
  for (const split of ['train', 'validation', 'test'] as const) {
    const spec = o.perClass?.[split] ?? (split === 'train' ? 12 : split === 'validation' ? 6 : 0)
    const counts = Array.isArray(spec) ? spec : Array.from({ length: k }, () => spec)
    const total = counts.reduce((a, b) => a + b, 0)
    if (total === 0) continue
    const x = new Uint8Array(total * per)
    const labels = new Int32Array(total)
    let i = 0
    // interleave classes so an unshuffled stream is mixed
    const left = counts.slice()
    while (i < total) {
      for (let j = 0; j < k; j++) {
        if (left[j] === 0) continue
        left[j]--
        labels[i] = j
        const band = Math.floor(((j + 0.5) * size) / k)
        for (let y = 0; y < size; y++)
          for (let xx = 0; xx < size; xx++)
            for (let ch = 0; ch < c; ch++) {
              const near = Math.abs(xx - band) <= Math.max(0, Math.floor(size / (2 * k)) - 1)
              const v = (near ? 200 : 40) + (r() - 0.5) * 60
              x[i * per + (y * size + xx) * c + ch] = Math.max(0, Math.min(255, Math.round(v)))
            }
        i++
      }
    }
    splits[split] = { x, labels }
  }
  return new InMemoryDataSource(Array.from({ length: k }, (_, j) => `class${j}`), [size, size, c], splits, `bands-${k}-${size}-${c}-${o.seed ?? 1}`)
}
