import { describe, expect, it } from 'vitest'
import { changedImages } from '../../src/main/services/evaluation/changed-images'
import type { EvaluatedItem } from '../../src/shared/evaluation'

const LABELS = ['cat', 'dog', 'fox']
const item = (id: number, label: number, pred: number, confidence = 0.5): EvaluatedItem => ({
  id,
  trueIndex: label,
  predIndex: pred,
  trueLabel: LABELS[label],
  predLabel: LABELS[pred],
  confidence,
  top3: [],
  src: `/d/${id}.png`,
})

describe('changedImages', () => {
  it('lists the images answered differently, fixed then broke then both wrong, and counts each kind', () => {
    const a = [item(2, 2, 0), item(3, 1, 1), item(5, 0, 0), item(4, 0, 1, 0.6), item(1, 2, 2), item(9, 0, 0)]
    const b = [item(1, 2, 2), item(2, 2, 1), item(3, 1, 0), item(4, 0, 0, 0.9), item(5, 0, 0)]
    const { changed, counts } = changedImages(a, b)
    expect(changed.map((c) => c.id)).toEqual([4, 3, 2])
    expect(changed[0]).toEqual({ id: 4, file: '/d/4.png', label: 'cat', a: { predicted: 'dog', confidence: 0.6 }, b: { predicted: 'cat', confidence: 0.9 } })
    // item 9 is only in A: neither listed nor counted
    expect(counts).toEqual({ images: 5, changed: 3, fixed: 1, broke: 1, bothWrong: 1 })
  })

  it('compares labels by name, so runs with differently ordered classes agree where they should', () => {
    const a = [item(1, 0, 0)]
    const b = [{ ...item(1, 0, 0), trueIndex: 2, predIndex: 2 }]
    expect(changedImages(a, b).counts).toEqual({ images: 1, changed: 0, fixed: 0, broke: 0, bothWrong: 0 })
  })
})
