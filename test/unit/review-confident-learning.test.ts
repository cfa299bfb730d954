import { describe, expect, it } from 'vitest'
import { confidentJoint, confidentThresholds, findLabelIssues, roundPreservingSum } from '../../src/main/services/review/confident-learning'
import { crossValidatedProbabilities, stratifiedFolds } from '../../src/main/services/review/softmax'
import { mulberry32 } from '../../src/main/ml/training/rng'

const probs = (rows: number[][]) => Float32Array.from(rows.flat())

describe('confident learning (cleanlab prune_by_noise_rate)', () => {
  // Three classes; image 3 is labelled 0 but looks like class 1, image 7 is labelled 2 and unsure.
  const labels = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
  const p = probs([
    [0.9, 0.05, 0.05],
    [0.8, 0.1, 0.1],
    [0.85, 0.1, 0.05],
    [0.1, 0.85, 0.05],
    [0.1, 0.8, 0.1],
    [0.05, 0.9, 0.05],
    [0.2, 0.7, 0.1],
    [0.3, 0.25, 0.45],
    [0.05, 0.05, 0.9],
    [0.1, 0.1, 0.8],
  ])

  it('thresholds are the mean self-confidence of each class', () => {
    const t = confidentThresholds(labels, p, 3)
    expect(t[0]).toBeCloseTo((0.9 + 0.8 + 0.85 + 0.1) / 4, 6)
    expect(t[1]).toBeCloseTo((0.8 + 0.9 + 0.7) / 3, 6)
    expect(t[2]).toBeCloseTo((0.45 + 0.9 + 0.8) / 3, 6)
  })

  it('the calibrated confident joint keeps each label count as its row sum', () => {
    const cj = confidentJoint(labels, p, 3, confidentThresholds(labels, p, 3))
    expect(cj.map((r) => r.reduce((a, b) => a + b, 0))).toEqual([4, 3, 3])
    expect(cj[0][1]).toBe(1)
  })

  it('flags the image another class claims, suggests that class, and leaves the merely unsure one', () => {
    const { issues } = findLabelIssues(labels, p, 3)
    expect(issues.map((i) => i.index)).toEqual([3])
    expect(issues[0]).toMatchObject({ suggested: 1 })
    expect(issues[0].selfConfidence).toBeCloseTo(0.1, 6)
    expect(issues[0].margin).toBeCloseTo(0.1 - 0.85, 6)
  })

  it('rounds preserving the sum, moving the largest remainders', () => {
    expect(roundPreservingSum([1.4, 1.4, 1.2])).toEqual([2, 1, 1])
    expect(roundPreservingSum([0.5, 0.5, 0.5, 0.5]).reduce((a, b) => a + b, 0)).toBe(2)
  })
})

describe('k-fold softmax heads', () => {
  /** Three Gaussian clusters in 8 dimensions, 60 points each; `flip` of them given a wrong label. */
  function clusters(flip: number[]) {
    const r = mulberry32(3)
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
    const d = 8
    const n = 180
    const x = new Float32Array(n * d)
    const truth = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      truth[i] = i % 3
      for (let c = 0; c < d; c++) x[i * d + c] = (c === truth[i] ? 6 : 0) + gauss()
    }
    const labels = truth.slice()
    for (const i of flip) labels[i] = (truth[i] + 1) % 3
    return { x, d, labels }
  }

  it('stratified folds keep each class spread evenly', () => {
    const folds = stratifiedFolds(Int32Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1)), 5, 1)
    for (let f = 0; f < 5; f++) expect(Array.from(folds).filter((v, i) => v === f && i < 50).length).toBe(10)
  })

  it('flags the flipped points whose true class clears its threshold, and nothing else, the same way every time', async () => {
    const flip = [4, 50, 101, 150]
    const { x, d, labels } = clusters(flip)
    const folds: number[] = []
    const p = await crossValidatedProbabilities(x, labels, d, 3, { folds: 5, seed: 42, onFold: (f) => folds.push(f) })
    expect(folds).toEqual([1, 2, 3, 4, 5])
    expect(await crossValidatedProbabilities(x, labels, d, 3, { folds: 5, seed: 42 })).toEqual(p)
    const { issues, thresholds } = findLabelIssues(labels, p, 3)
    // Confident learning only counts a probability at or above the class's mean self-confidence.
    const confident = flip.filter((i) => p[i * 3 + (i % 3)] >= thresholds[i % 3])
    expect(confident.length).toBeGreaterThanOrEqual(2)
    expect(issues.map((i) => i.index).sort((a, b) => a - b)).toEqual(confident)
    for (const i of issues) expect(i.suggested).toBe(i.index % 3)
  })
})
