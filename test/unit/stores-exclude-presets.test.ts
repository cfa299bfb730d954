import { describe, expect, it } from 'vitest'
import { useDatasetsStore } from '../../src/renderer/src/stores/datasets'
import { useEvaluationStore } from '../../src/renderer/src/stores/evaluation'
import { defaultForm, exampleExtras, formFromExample, formToOptions, useTrainingStore } from '../../src/renderer/src/stores/training'
import { EXAMPLES } from '../../src/shared/examples'
import { TrainOptions } from '../../src/shared/training'
import { appError, setup, tick } from './stores-fake'

const DIR = '/p/x'
const overview = (cat: number, dog: number) => ({
  total: cat + dog,
  classes: [{ name: 'cat', count: cat }, { name: 'dog', count: dog }],
  splits: { train: cat + dog - 2, validation: 2, test: 0 },
  health: null,
  skipped: [],
  duplicates: { exact: 0, crossSplit: 0 },
  imports: [],
  settings: { inputSize: 96, resizeMode: 'squash' as const, background: '#ffffff', channels: 3 as const },
})
const page = (label: string, n: number, excluded: number[] = []) => ({ total: n, items: Array.from({ length: n }, (_, i) => ({ id: i, label, split: 'train', src: `/s/${label}/${i}.png`, excluded: excluded.includes(i) })) })

describe('datasets store: exclude', () => {
  it('excludes through the service, updates cached items in place and the counts, without refetching pages', async () => {
    const excludedIds = new Set<number>()
    const fake = setup(
      {
        'datasets.overview': () => overview(5 - excludedIds.size, 3),
        'datasets.items': ({ label }) => page(label, 5, [...excludedIds]),
        'datasets.exclude': ({ ids, excluded }) => {
          for (const id of ids) {
            if (excluded) excludedIds.add(id)
            else excludedIds.delete(id)
          }
          return overview(5 - excludedIds.size, 3)
        },
      },
      { dir: DIR },
    )
    const s = useDatasetsStore()
    await s.load()
    await s.ensureRange('cat', 0, 4)
    expect(s.totalOf('cat')).toBe(5)
    expect(s.excludedIn('cat')).toBe(0)
    expect(await s.setExcluded([2, 4], true)).toBe(true)
    expect(fake.calls.find((c) => c.method === 'datasets.exclude')?.args).toEqual({ dir: DIR, ids: [2, 4], excluded: true })
    expect([0, 1, 2, 3, 4].map((i) => s.itemAt('cat', i)?.excluded)).toEqual([false, false, true, false, true])
    expect(s.overview?.classes[0].count).toBe(3)
    // The grid keeps listing excluded images (dimmed), so its length does not change under the user.
    expect(s.totalOf('cat')).toBe(5)
    expect(s.excludedIn('cat')).toBe(2)
    expect(s.excluding.size).toBe(0)
    await s.setExcluded([2], false)
    expect(s.itemAt('cat', 2)?.excluded).toBe(false)
    expect(s.excludedIn('cat')).toBe(1)
    expect(fake.calls.filter((c) => c.method === 'datasets.items').length).toBe(1)
  })

  it('keeps the item as it was and shows the error inline when the service refuses', async () => {
    setup({ 'datasets.items': ({ label }) => page(label, 3), 'datasets.exclude': () => { throw appError('PROJECT_LOCKED', 'Training is running on this project.', 'Exclude images after it finishes or stop it.') } }, { dir: DIR })
    const s = useDatasetsStore()
    await s.ensureRange('cat', 0, 2)
    expect(await s.setExcluded([1], true)).toBe(false)
    expect(s.itemAt('cat', 1)?.excluded).toBe(false)
    expect(s.excludeError).toEqual({ message: 'Training is running on this project.', hint: 'Exclude images after it finishes or stop it.' })
    expect(s.excluding.size).toBe(0)
  })
})

describe('evaluation store: exclude from the gallery', () => {
  const item = (id: number, t: number, p: number) => ({ id, trueIndex: t, predIndex: p, trueLabel: 'ab'[t], predLabel: 'ab'[p], confidence: 0.9, top3: [] })
  const result = (items: ReturnType<typeof item>[]) => ({ runId: 'r1', split: 'validation', accuracy: 0.5, loss: 1, labels: ['a', 'b'], confusionMatrix: [[1, 1], [0, items.length - 2]], normalized: [], report: {}, reportText: '', warnings: [], items, createdAt: '' })

  it('marks a gallery image excluded, flags the result stale, and a new evaluation clears it', async () => {
    let items = [item(7, 0, 1), item(8, 0, 0), item(9, 1, 1)]
    const fake = setup(
      {
        'evaluation.evaluate': () => result(items),
        'datasets.exclude': ({ ids }) => {
          items = items.filter((i) => !ids.includes(i.id))
          return overview(1, 1)
        },
      },
      { dir: DIR },
    )
    const ev = useEvaluationStore()
    await ev.evaluate()
    ev.openCell(0, 1)
    expect(ev.gallery.map((i) => i.id)).toEqual([7])
    expect(await ev.toggleExcluded(7)).toBe(true)
    expect(ev.excluded.has(7)).toBe(true)
    expect(ev.stale).toBe(true)
    expect(useDatasetsStore().overview?.total).toBe(2)
    expect(fake.calls.at(-1)).toMatchObject({ method: 'datasets.exclude', args: { dir: DIR, ids: [7], excluded: true } })
    await ev.evaluate()
    expect(ev.stale).toBe(false)
    expect(ev.result?.items.map((i) => i.id)).toEqual([8, 9])
  })

  it('undo brings the image back; a refusal shows inline and changes nothing', async () => {
    let fail = false
    const fake = setup({ 'evaluation.evaluate': () => result([item(7, 0, 1), item(8, 0, 0)]), 'datasets.exclude': () => { if (fail) throw appError('NOT_FOUND', 'No image 7 in this project.', 'Re-import the data.'); return overview(1, 1) } }, { dir: DIR })
    const ev = useEvaluationStore()
    await ev.evaluate()
    await ev.toggleExcluded(7)
    await ev.toggleExcluded(7)
    expect(fake.calls.filter((c) => c.method === 'datasets.exclude').map((c) => (c.args as { excluded: boolean }).excluded)).toEqual([true, false])
    expect(ev.stale).toBe(false)
    fail = true
    expect(await ev.toggleExcluded(7)).toBe(false)
    expect(ev.excluded.has(7)).toBe(false)
    expect(ev.excludeError?.message).toBe('No image 7 in this project.')
  })
})

describe('training store: example presets and base weights', () => {
  it('starts each example from its recipe’s first stage: form + stage extras parse to the same training settings', () => {
    for (const def of EXAMPLES) {
      const stage = def.stages[0].options
      const state = { example: { name: def.name, stages: def.stages.map((s) => ({ name: s.name, title: s.title, options: s.options })) } }
      const f = formFromExample(state)!
      const want = TrainOptions.parse(stage)
      const got = TrainOptions.parse(formToOptions(f, exampleExtras(state).options))
      // The model preset travels through the Models store (its layers), not the form.
      const { model: _w, ...wantRest } = want
      const { model: _g, ...gotRest } = got
      // Absent and false both mean "no early stopping".
      expect([def.name, { ...gotRest, earlyStop: got.earlyStop || false }]).toEqual([def.name, { ...wantRest, earlyStop: want.earlyStop || false }])
    }
  })

  it('names the extras a form cannot show, and has none for a project that is not an example', () => {
    const fashion = EXAMPLES.find((d) => d.name === 'fashion-mnist')!
    const x = exampleExtras({ example: { stages: fashion.stages } })
    expect(x.options).toMatchObject({ reduceLrOnPlateau: { factor: 0.2, patience: 1 }, labelSmoothing: 0.1, seed: 42, checkpointMonitor: 'val_loss' })
    expect(x.options).not.toHaveProperty('epochs')
    expect(x.text).toBe('learning rate ×0.2 after 1 stalled epoch(s) · label smoothing 0.1')
    expect(exampleExtras({})).toEqual({ options: {}, text: '' })
  })

  it('is null for a project that is not an example, and sends base weights only for transfer recipes', () => {
    expect(formFromExample({})).toBeNull()
    expect(formFromExample(undefined)).toBeNull()
    const f = { ...defaultForm(), base: 'vgg16' as const, baseWeights: ' /w/vgg16_notop.h5 ' }
    expect(TrainOptions.parse(formToOptions(f))).toMatchObject({ base: 'vgg16', baseWeights: '/w/vgg16_notop.h5' })
    expect(formToOptions({ ...f, recipe: 'cnn' }).baseWeights).toBeUndefined()
    expect(formToOptions({ ...f, baseWeights: '  ' }).baseWeights).toBeUndefined()
  })

  it('sets the form up once per project from its example; switching recipe drops the example’s optimizer', async () => {
    const vgg = EXAMPLES.find((e) => e.name === 'cats-dogs-vgg16')!
    setup({ 'training.status': () => ({ running: false, runId: null, epochs: [], backend: null }), 'training.runs': () => [] }, { dir: DIR, state: { example: { name: vgg.name, stages: vgg.stages } } })
    const s = useTrainingStore()
    await s.load()
    expect(s.form).toMatchObject({ recipe: 'transfer', base: 'vgg16', epochs: 20, batchSize: 16, learningRate: 1e-4, optimizer: 'rmsprop', earlyStop: true, patience: 5 })
    expect(s.example).toMatchObject({ stage: vgg.stages[0].title, stages: 2 })
    s.form.epochs = 3
    await s.load()
    expect(s.form.epochs).toBe(3)
    s.form.recipe = 'cnn'
    await tick()
    expect(s.form.optimizer).toBeNull()
    s.form.recipe = 'transfer'
    await tick()
    expect(s.form.optimizer).toBe('rmsprop')
    expect(s.example?.inputSize).toBeNull()
  })

  it('carries the size an example project was made at when it is not the tutorial’s, with the reason', async () => {
    const mnv2 = EXAMPLES.find((e) => e.name === 'cats-dogs-mobilenetv2')!
    const inputSize = { size: 224, why: mnv2.settings.offlineWeights!.why }
    setup({ 'training.status': () => ({ running: false, runId: null, epochs: [], backend: null }), 'training.runs': () => [] }, { dir: DIR, state: { example: { name: mnv2.name, stages: mnv2.stages, inputSize } } })
    const s = useTrainingStore()
    await s.load()
    expect(s.example?.inputSize).toEqual(inputSize)
  })
})
