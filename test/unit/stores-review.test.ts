import { describe, expect, it } from 'vitest'
import { useDatasetsStore } from '../../src/renderer/src/stores/datasets'
import { useReviewStore } from '../../src/renderer/src/stores/review'
import type { ReviewResult } from '../../src/shared/review'
import { appError, setup } from './stores-fake'

const DIR = '/p/x'
const overview = (cat: number, dog: number) => ({
  total: cat + dog,
  classes: [{ name: 'cat', count: cat }, { name: 'dog', count: dog }],
  splits: { train: cat + dog, validation: 0, test: 0 },
  health: null,
  skipped: [],
  duplicates: { exact: 0, crossSplit: 0 },
  imports: [],
  settings: { inputSize: 96, resizeMode: 'squash' as const, background: '#ffffff', channels: 3 as const },
})
const issue = (id: number) => ({ id, file: `/s/cat/${id}.png`, split: 'train' as const, label: 'cat', suggested: 'dog', confidence: 0.05, threshold: 0.8, suggestedProbability: 0.9, suggestedThreshold: 0.75 })
const result: ReviewResult = { issues: [issue(1), issue(2)], reviewed: 10, thresholds: [], features: 'MobileNetV2 features', folds: 5, accuracy: 0.9, seconds: 1 }

describe('review store', () => {
  it('relabels through datasets.relabel (counts and grid refreshed), excludes, and undo clears the mark', async () => {
    const labels: Record<number, string> = {}
    const excluded = new Set<number>()
    const fake = setup(
      {
        'datasets.review': () => result,
        'datasets.relabel': ({ ids, label }) => {
          for (const id of ids) labels[id] = label
          const dogs = Object.values(labels).filter((l) => l === 'dog').length
          return overview(5 - dogs, 5 + dogs)
        },
        'datasets.exclude': ({ ids, excluded: on }) => {
          for (const id of ids) if (on) excluded.add(id)
          else excluded.delete(id)
          return overview(5 - excluded.size, 5)
        },
      },
      { dir: DIR },
    )
    const review = useReviewStore()
    const datasets = useDatasetsStore()
    await review.review()
    expect(review.result?.issues.map((i) => i.id)).toEqual([1, 2])
    const epoch = datasets.gridEpoch

    await review.relabel(review.result!.issues[0])
    expect(labels[1]).toBe('dog')
    expect(review.fixed[1]).toEqual({ label: 'dog' })
    expect(datasets.overview?.classes).toEqual([{ name: 'cat', count: 4 }, { name: 'dog', count: 6 }])
    expect(datasets.gridEpoch).toBe(epoch + 1)

    await review.exclude(review.result!.issues[1])
    expect(excluded.has(2)).toBe(true)
    expect(review.fixed[2]).toEqual({ excluded: true })

    await review.relabel(review.result!.issues[0], 'cat')
    await review.exclude(review.result!.issues[1], false)
    expect(review.fixed).toEqual({})
    expect(fake.calls.map((c) => c.method)).toEqual(['datasets.review', 'datasets.relabel', 'datasets.exclude', 'datasets.relabel', 'datasets.exclude'])
  })

  it('keeps a failed fix as an error and the image unmarked', async () => {
    setup({ 'datasets.review': () => result, 'datasets.relabel': () => Promise.reject(appError('PROJECT_LOCKED', 'Busy.', 'Wait.')) }, { dir: DIR })
    const review = useReviewStore()
    await review.review()
    await review.relabel(review.result!.issues[0])
    expect(review.fixed).toEqual({})
    expect(review.fixError?.message).toBe('Busy.')
    expect(review.busy.size).toBe(0)
  })
})
