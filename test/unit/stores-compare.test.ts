import { describe, expect, it } from 'vitest'
import { defaultPair, filterChanged, useCompareStore } from '../../src/renderer/src/stores/compare'
import type { ChangedImage, ComparedRun, CompareResult } from '../../src/shared/compare'
import type { RunInfo } from '../../src/shared/training'
import { appError, setup } from './stores-fake'

const DIR = '/p/x'
const run = (runId: string, createdAt: string, model = true): RunInfo =>
  ({ runId, createdAt, recipe: 'cnn', base: null, model: 'cats-dogs-cnn', status: 'completed', epochsPlanned: 1, epochsDone: 1, best: null, backend: 'cpu', hasBest: model, hasLast: model, labels: ['cat', 'dog'] }) as RunInfo
const change = (id: number, label: string, a: string, b: string): ChangedImage => ({ id, file: `/d/${id}.png`, label, a: { predicted: a, confidence: 0.6 }, b: { predicted: b, confidence: 0.7 } })
const CHANGED = [change(1, 'cat', 'dog', 'cat'), change(2, 'dog', 'dog', 'cat'), change(3, 'cat', 'dog', 'bird')]
const side = (runId: string): ComparedRun => ({
  runId,
  createdAt: '',
  settings: { recipe: 'cnn', model: 'm', epochs: 1, batchSize: 8, learningRate: 0.001, optimizer: 'adam', augment: 'none' },
  epochs: [],
  accuracy: 0.5,
  loss: 1,
  macroF1: 0.5,
  labels: ['bird', 'cat', 'dog'],
  confusionMatrix: [],
  normalized: [],
})
const result = (a: string, b: string): CompareResult => ({ split: 'validation', a: side(a), b: side(b), changed: CHANGED, counts: { images: 10, changed: 3, fixed: 1, broke: 1, bothWrong: 1 } })

describe('compare store', () => {
  it('defaults to the two latest runs with a model, the older as A', () => {
    const runs = [run('r1', '2026-01-01T00:00:00Z'), run('r3', '2026-01-03T00:00:00Z'), run('r4', '2026-01-04T00:00:00Z', false), run('r2', '2026-01-02T00:00:00Z')]
    expect(defaultPair(runs)).toEqual({ a: 'r2', b: 'r3' })
    expect(defaultPair([run('r1', '2026-01-01T00:00:00Z')])).toEqual({ a: null, b: 'r1' })
  })

  it('filters the changed images by kind and by one side\'s matrix cell', () => {
    expect(filterChanged(CHANGED, 'fixed').map((c) => c.id)).toEqual([1])
    expect(filterChanged(CHANGED, 'broke').map((c) => c.id)).toEqual([2])
    expect(filterChanged(CHANGED, 'bothWrong').map((c) => c.id)).toEqual([3])
    expect(filterChanged(CHANGED, 'all', { side: 'a', trueLabel: 'cat', predLabel: 'dog' }).map((c) => c.id)).toEqual([1, 3])
    expect(filterChanged(CHANGED, 'all', { side: 'b', trueLabel: 'cat', predLabel: 'dog' })).toEqual([])
  })

  it('opens on the two latest runs and compares them at once; a cell pick narrows the grid and toggles off', async () => {
    const fake = setup({ 'training.runs': () => [run('old', '2026-01-01T00:00:00Z'), run('new', '2026-01-02T00:00:00Z')], 'evaluation.compare': ({ options }) => result(options.runA, options.runB) }, { dir: DIR })
    const cmp = useCompareStore()
    await cmp.open()
    expect(fake.calls.find((c) => c.method === 'evaluation.compare')?.args).toEqual({ dir: DIR, options: { runA: 'old', runB: 'new', split: 'validation' } })
    expect(cmp.result?.a.runId).toBe('old')
    expect(cmp.shown).toHaveLength(3)
    cmp.pickCell('a', 1, 2) // labels bird, cat, dog: true cat, predicted dog
    expect(cmp.shown.map((c) => c.id)).toEqual([1, 3])
    cmp.filter = 'fixed'
    expect(cmp.shown.map((c) => c.id)).toEqual([1])
    cmp.pickCell('a', 1, 2)
    expect(cmp.cell).toBeNull()
    cmp.swap()
    expect([cmp.runA, cmp.runB]).toEqual(['new', 'old'])
  })

  it('does not call compare with fewer than two runs, and shows a failed comparison as an error', async () => {
    const one = setup({ 'training.runs': () => [run('only', '2026-01-01T00:00:00Z')] }, { dir: DIR })
    const cmp = useCompareStore()
    await cmp.open()
    expect(cmp.ready).toBe(false)
    expect(one.calls.map((c) => c.method)).toEqual(['training.runs'])

    setup({ 'training.runs': () => [run('a', '2026-01-01T00:00:00Z'), run('b', '2026-01-02T00:00:00Z')], 'evaluation.compare': () => { throw appError('INVALID_INPUT', 'The images are 32x32 but the model was trained on 48x48.', 'Train again.') } }, { dir: DIR })
    const failing = useCompareStore()
    await failing.open()
    expect(failing.result).toBeNull()
    expect(failing.task.error?.message).toContain('trained on 48x48')
  })
})
