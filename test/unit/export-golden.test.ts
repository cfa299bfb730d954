import { describe, expect, it } from 'vitest'
import { pickGolden } from '../../src/main/services/export/golden'
import { compareProbabilities } from '../../src/main/services/export'
import { ProtoWriter } from '../../src/main/ml/export/protobuf'

describe('parity golden set', () => {
  const items = [
    ...Array.from({ length: 10 }, (_, i) => ({ id: i, label: i % 3, split: 'train' as const })),
    ...Array.from({ length: 9 }, (_, i) => ({ id: 10 + i, label: i < 6 ? 0 : i < 8 ? 1 : 2, split: 'test' as const })),
    { id: 19, label: 2, split: 'test' as const, excluded: true },
  ]
  it('takes the test split, round-robin over classes, skipping excluded items', () => {
    expect(pickGolden(items, 5)).toEqual([10, 16, 18, 11, 17])
    expect(pickGolden(items, 64)).toEqual([10, 16, 18, 11, 17, 12, 13, 14, 15])
  })
  it('falls back to validation, then train', () => {
    const train = items.filter((i) => i.split === 'train')
    expect(pickGolden(train, 4)).toEqual([0, 1, 2, 3])
    expect(pickGolden([], 4)).toEqual([])
  })
})

describe('compareProbabilities', () => {
  it('max abs difference and label agreement', () => {
    const a = Float32Array.from([0.7, 0.3, 0.4, 0.6])
    const b = Float32Array.from([0.69, 0.31, 0.6, 0.4])
    const r = compareProbabilities(a, b, 2)
    expect(r.maxAbsDiff).toBeCloseTo(0.2, 6)
    expect(r.labelAgreement).toBe(0.5)
    expect(r.disagreements).toEqual([1])
    expect(compareProbabilities(a, Float32Array.from([NaN, 0, 0, 1]), 2).maxAbsDiff).toBe(Infinity)
  })
})

describe('protobuf writer', () => {
  it('encodes varints, negative int64, strings and packed fields as protobuf does', () => {
    const w = new ProtoWriter()
    w.int(1, 300).int(2, -1).string(3, 'hé').packedInts(4, [1, 150]).float(5, 1.5)
    expect(Buffer.from(w.finish()).toString('hex')).toBe(
      ['08ac02', '10ffffffffffffffffff01', '1a0368c3a9', '2203019601', '2d0000c03f'].join(''),
    )
  })
})
