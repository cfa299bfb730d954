import { describe, expect, it } from 'vitest'
import { cellItems, topConfusions, useEvaluationStore } from '../../src/renderer/src/stores/evaluation'
import { setup } from './stores-fake'

const DIR = '/p/e'
const item = (id: number, t: number, p: number, confidence: number) => ({ id, trueIndex: t, predIndex: p, trueLabel: 'abc'[t], predLabel: 'abc'[p], confidence, top3: [] })

describe('evaluation store', () => {
  it('lists off-diagonal confusions by count and computes their share of the true class', () => {
    const m = [
      [8, 2, 0],
      [1, 5, 4],
      [0, 0, 9],
    ]
    const top = topConfusions(m, ['a', 'b', 'c'])
    expect(top.map((c) => `${c.trueLabel}>${c.predLabel}:${c.count}`)).toEqual(['b>c:4', 'a>b:2', 'b>a:1'])
    expect(top[0].rate).toBeCloseTo(0.4)
    expect(topConfusions([[3, 0], [0, 3]], ['a', 'b'])).toEqual([])
  })

  it('evaluates the picked split and drills into a cell, most confident first', async () => {
    const items = [item(1, 1, 2, 0.6), item(2, 1, 2, 0.95), item(3, 1, 1, 0.99), item(4, 0, 2, 0.7)]
    const fake = setup({ 'evaluation.evaluate': () => ({ runId: 'r1', split: 'test', accuracy: 0.25, loss: 1, labels: ['a', 'b', 'c'], confusionMatrix: [[0, 0, 1], [0, 1, 2], [0, 0, 0]], normalized: [], report: {}, reportText: '', warnings: [], items, createdAt: '' }) }, { dir: DIR })
    const s = useEvaluationStore()
    s.split = 'test'
    await s.evaluate()
    expect(fake.calls[0].args).toEqual({ dir: DIR, options: { split: 'test', runId: undefined, force: false, calibrated: true } })
    s.openCell(1, 2)
    expect(s.gallery.map((i) => i.id)).toEqual([2, 1])
    expect(cellItems(items, 0, 0)).toEqual([])
    expect(s.confusions[0]).toMatchObject({ trueLabel: 'b', predLabel: 'c', count: 2 })
    s.closeCell()
    expect(s.gallery).toEqual([])
  })
})
