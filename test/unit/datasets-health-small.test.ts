import { describe, expect, it } from 'vitest'
import { datasetHealth } from '../../src/main/services/datasets/health'
import type { DatasetIndex } from '../../src/main/services/datasets/cache'
import type { DatasetItem } from '../../src/shared/datasets'

function index(sizes: [string, number, number][], extra: Partial<DatasetItem>[] = []): DatasetIndex {
  const items: DatasetItem[] = sizes.map(([src, w, h], i) => ({ id: i, src, label: i % 2, split: 'train', chunk: 0, slot: i, hash: `h${i}`, w, h, ...extra[i] }))
  return { version: 1, settings: { inputSize: 96, resizeMode: 'squash', background: '#ffffff', channels: 3 }, itemBytes: 96 * 96 * 3, classes: ['a', 'b'], items, chunks: [], files: {}, imports: [], lastSkipped: [] }
}

describe('the small-images health warning names its images', () => {
  it('names the three smallest with their sizes, counts the rest, lists them all smallest first with ids', () => {
    const h = datasetHealth(
      index([
        ['/d/a/big.png', 200, 200],
        ['/d/a/t40.png', 40, 90],
        ['C:\\d\\b\\t12.png', 12, 30],
        ['/d/a/t20.png', 64, 20],
        ['/d/b/t30.png', 30, 30],
        ['/d/b/gone.png', 10, 10],
      ], [{}, {}, {}, {}, {}, { excluded: true }]),
    )
    const w = h.warnings.find((x) => x.includes('much smaller'))
    expect(w).toBe('4 images are much smaller than the 96-pixel input (shorter side under 48 px): t12.png (12x30), t20.png (64x20), t30.png (30x30) and 1 more. They will be enlarged and blurry.')
    expect(h.smallImages).toBe(4)
    expect(h.small!.map((s) => s.id)).toEqual([2, 3, 4, 1])
    expect(h.small![0]).toEqual({ id: 2, src: 'C:\\d\\b\\t12.png', w: 12, h: 30 })
    expect(h.smallExamples).toEqual(['C:\\d\\b\\t12.png', '/d/a/t20.png', '/d/b/t30.png', '/d/a/t40.png'])
  })

  it('one image: singular, no "more"; none: no warning', () => {
    expect(datasetHealth(index([['/d/a/x.png', 20, 20], ['/d/b/y.png', 96, 96]])).warnings.find((x) => x.includes('much smaller'))).toBe(
      '1 image is much smaller than the 96-pixel input (shorter side under 48 px): x.png (20x20). It will be enlarged and blurry.',
    )
    const none = datasetHealth(index([['/d/a/x.png', 96, 96], ['/d/b/y.png', 48, 300]]))
    expect(none.warnings.some((x) => x.includes('much smaller'))).toBe(false)
    expect(none.small).toEqual([])
  })
})
