import { describe, expect, it } from 'vitest'
import { defaultForm, formToOptions, useTrainingStore } from '../../src/renderer/src/stores/training'
import { useModelsStore } from '../../src/renderer/src/stores/models'
import { TrainOptions } from '../../src/shared/training'
import { appError, setup, tick } from './stores-fake'

const DIR = '/p/t'
const epoch = (n: number, valAccuracy: number) => ({ epoch: n, loss: 1 / n, accuracy: 0.5 + n / 10, valLoss: 1.2 / n, valAccuracy, lr: 1e-3, seconds: 4, imagesPerSecond: 120 })
const run = (runId: string, createdAt: string, status = 'completed') => ({ runId, recipe: 'transfer', base: 'mobilenetv2', model: null, createdAt, status, epochsPlanned: 2, epochsDone: 2, best: { epoch: 2, valAccuracy: 0.9 }, backend: 'wasm', hasBest: true, hasLast: true, labels: ['a', 'b'] })

describe('training store', () => {
  it('turns the form into options the contract accepts, with one-click defaults', () => {
    const o = formToOptions(defaultForm())
    const parsed = TrainOptions.parse(o)
    expect(parsed).toMatchObject({ recipe: 'transfer', base: 'mobilenetv2', epochs: 10, batchSize: 32, augment: {}, earlyStop: { patience: 3, monitor: 'val_loss' } })
    expect(parsed.learningRate).toBeUndefined()
    const f = { ...defaultForm(), recipe: 'cnn' as const, lr: 0.01, augment: 'flip,rotate=15', earlyStop: false }
    const p2 = TrainOptions.parse(formToOptions(f))
    expect(p2).toMatchObject({ recipe: 'cnn', learningRate: 0.01, augment: { flip: 'horizontal', rotate: 15 }, earlyStop: false })
  })

  it('draws live curves from this project’s training events and reloads runs when done', async () => {
    const fake = setup({ 'training.start': () => ({ runId: 'r2' }), 'training.runs': () => [run('r2', '2026-02-01')] }, { dir: DIR })
    const s = useTrainingStore()
    s.form.epochs = 2
    await s.start()
    expect(s.running).toBe(true)
    expect(fake.calls[0].args).toMatchObject({ dir: DIR, options: { recipe: 'transfer', epochs: 2 } })
    expect(fake.listeners('training')).toBe(1)
    fake.emit('training', { dir: DIR, event: { type: 'start', runId: 'r2', backend: 'wasm', reason: 'tfjs-node missing', recipe: 'transfer', epochs: 2, resumedFromEpoch: 0 } })
    fake.emit('training', { dir: DIR, event: { type: 'batch', epoch: 1, batch: 1, batches: 4, loss: 1, accuracy: 0.5, imagesPerSecond: 100, etaSeconds: 3 } })
    expect(s.backend).toBe('wasm')
    // The loop's 3 s already cover every remaining batch of both epochs (not 3 s + another epoch).
    expect(s.etaSeconds).toBeCloseTo(3)
    fake.emit('training', { dir: DIR, event: { type: 'epoch', ...epoch(1, 0.7) } })
    fake.emit('training', { dir: '/other', event: { type: 'epoch', ...epoch(2, 0.1) } })
    expect(s.epochs.map((e) => e.valAccuracy)).toEqual([0.7])
    fake.emit('training', { dir: DIR, event: { type: 'epoch', ...epoch(2, 0.8) } })
    fake.emit('training', { dir: DIR, event: { type: 'done', result: { runId: 'r2', backend: 'wasm', recipe: 'transfer', epochs: [epoch(1, 0.7), epoch(2, 0.8)], best: { epoch: 2, valAccuracy: 0.8, monitor: 'val_loss', value: 0.6 }, stoppedEarly: false, stopped: false } } })
    await tick()
    expect(s.running).toBe(false)
    expect(s.lastResult).toEqual({ stoppedEarly: false, stopped: false, bestEpoch: 2 })
    expect(s.runs.map((r) => r.runId)).toEqual(['r2'])
  })

  it('runs an example’s whole recipe: stays running across stages, ends with the evaluation; a stop is not an error', async () => {
    const fake = setup({ 'examples.run': () => ({ runId: 't1' }), 'training.runs': () => [] }, { dir: DIR })
    const s = useTrainingStore()
    await s.runRecipe()
    expect(fake.calls[0]).toMatchObject({ method: 'examples.run', args: { dir: DIR } })
    const step = (i: number) => (i < 2 ? { step: ['transfer', 'finetune'][i], title: `Stage ${i}`, index: i, total: 3 } : { step: 'evaluate', title: 'Evaluate on the validation split', index: 2, total: 3 })
    const result = (runId: string, stopped = false) => ({ runId, backend: 'wasm', recipe: 'transfer' as const, epochs: [epoch(1, 0.7)], best: { epoch: 1, valAccuracy: 0.7, monitor: 'val_loss' as const, value: 0.6 }, stoppedEarly: false, stopped })
    fake.emit('training', { dir: DIR, event: { type: 'start', runId: 't1', backend: 'wasm', reason: '', recipe: 'transfer', epochs: 1, resumedFromEpoch: 0 }, recipe: step(0) })
    fake.emit('training', { dir: DIR, event: { type: 'done', result: result('t1') }, recipe: step(0) })
    await tick()
    // The first stage's end is not the recipe's end.
    expect(s.running).toBe(true)
    expect(s.lastResult).toBeNull()
    fake.emit('training', { dir: DIR, event: { type: 'start', runId: 'f1', backend: 'wasm', reason: '', recipe: 'finetune', epochs: 1, resumedFromEpoch: 0 }, recipe: step(1) })
    expect(s.recipe).toMatchObject({ step: 'finetune', index: 1 })
    expect(s.runId).toBe('f1')
    fake.emit('training', { dir: DIR, event: { type: 'done', result: result('f1') }, recipe: step(1) })
    fake.emit('training', { dir: DIR, event: { type: 'log', message: 'Evaluating run f1 on the validation split' }, recipe: step(2) })
    await tick()
    expect(s.running).toBe(true)
    expect(s.recipe?.step).toBe('evaluate')
    fake.emit('training', { dir: DIR, event: { type: 'recipe-done', evaluation: { split: 'validation', runId: 'f1', accuracy: 0.951, loss: 0.2 }, seconds: 60 }, recipe: step(2) })
    expect(s.running).toBe(false)
    expect(s.recipeResult).toMatchObject({ runId: 'f1', accuracy: 0.951 })

    // Stopped during a stage: the stage's 'done' (stopped) ends the recipe, its CANCELLED error is no error box.
    await s.runRecipe()
    expect(s.recipeResult).toBeNull()
    fake.emit('training', { dir: DIR, event: { type: 'start', runId: 't2', backend: 'wasm', reason: '', recipe: 'transfer', epochs: 1, resumedFromEpoch: 0 }, recipe: step(0) })
    fake.emit('training', { dir: DIR, event: { type: 'done', result: result('t2', true) }, recipe: step(0) })
    fake.emit('training', { dir: DIR, event: { type: 'error', error: { name: 'AppError', message: 'stopped during stage "transfer"; later stages were not started.', code: 'CANCELLED' } }, recipe: step(0) })
    await tick()
    expect(s.running).toBe(false)
    expect(s.lastResult).toMatchObject({ stopped: true })
    expect(s.error).toBeNull()
  })

  it('after a reload shows the latest run’s curves, and overlays a past run', async () => {
    const fake = setup(
      {
        'training.status': () => ({ running: false, runId: null, epochs: [], backend: null }),
        'training.runs': () => [run('old', '2026-01-01'), run('new', '2026-03-01')],
        'training.run': ({ runId }) => ({ run: run(runId, 'x'), epochs: runId === 'new' ? [epoch(1, 0.6), epoch(2, 0.9)] : [epoch(1, 0.4)], config: {} }),
      },
      { dir: DIR },
    )
    const s = useTrainingStore()
    await s.load()
    expect(s.runId).toBe('new')
    expect(s.epochs.map((e) => e.valAccuracy)).toEqual([0.6, 0.9])
    await s.showRun('old')
    expect(s.shown).toEqual(['old'])
    expect(s.overlays.old.length).toBe(1)
    s.hideRun('old')
    expect(s.shown).toEqual([])
    expect(fake.calls.filter((c) => c.method === 'training.run').length).toBe(2)
  })

  it('shows a start failure inline and is not left running; resume passes the run id', async () => {
    const fake = setup({ 'training.start': () => { throw appError('NOT_IMPLEMENTED', 'Training is not implemented yet.', 'Use the CLI.') } }, { dir: DIR })
    const s = useTrainingStore()
    await s.resume('r1')
    expect(s.running).toBe(false)
    expect(s.error?.message).toBe('Training is not implemented yet.')
    const start = fake.calls.find((c) => c.method === 'training.start')!
    expect(start.args).toEqual({ dir: DIR, options: { resume: 'r1' } })
    expect(TrainOptions.parse((start.args as { options: unknown }).options).resumeRunId).toBe('r1')
  })

  it('resume sends only the run id, whatever the form says; a total the user typed goes with it; a failed resume keeps the run’s curves', async () => {
    const run = { runId: 'r1', status: 'stopped', hasLast: true, epochsDone: 2, epochsPlanned: 4, createdAt: '2026-01-01T00:00:00Z', recipe: 'transfer', backend: 'wasm' }
    const metrics = [1, 2].map((epoch) => ({ epoch, loss: 1, accuracy: 0.5, valLoss: 1, valAccuracy: 0.5, lr: 1e-3, seconds: 1, imagesPerSecond: 10 }))
    const fake = setup(
      {
        'training.runs': () => [run],
        'training.run': () => ({ run, epochs: metrics, config: { options: { recipe: 'transfer', epochs: 4, batchSize: 8, augment: 'flip' } } }),
        'training.start': () => {
          throw appError('PROJECT_DAMAGED', 'Could not resume run r1: damaged.', 'The run was left as it was (stopped, 2 of 4 epochs done).')
        },
      },
      { dir: DIR },
    )
    const s = useTrainingStore()
    await s.loadRuns()
    // A reset form (10 epochs, no augmentation) does not change the run.
    s.form.epochs = 10
    await s.resume('r1')
    let starts = fake.calls.filter((c) => c.method === 'training.start')
    expect(starts[0].args).toEqual({ dir: DIR, options: { resume: 'r1' } })
    expect(s.running).toBe(false)
    expect(s.error).toEqual({ message: 'Could not resume run r1: damaged.', hint: 'The run was left as it was (stopped, 2 of 4 epochs done).' })
    expect(s.epochs.map((e) => e.epoch)).toEqual([1, 2])
    expect(s.runId).toBe('r1')
    // The form shows the run's own settings.
    expect([s.form.epochs, s.form.batch, s.form.augment]).toEqual([4, 8, 'flip'])
    expect(s.resumable?.runId).toBe('r1')
    // The user types a new total: it goes with the run id (and the button says so).
    s.form.epochs = 6
    s.epochsEdited = true
    expect(s.resumeTotal(run)).toBe(6)
    await s.resume('r1')
    starts = fake.calls.filter((c) => c.method === 'training.start')
    expect(starts[1].args).toEqual({ dir: DIR, options: { resume: 'r1', epochs: 6 } })
  })

  it('trains the custom CNN chosen in the Model view: its layers, named explicitly', async () => {
    const fake = setup({ 'training.start': () => ({ runId: 'c1' }) }, { dir: DIR, state: { model: { type: 'cnn', preset: 'tiny', layers: [{ type: 'Flatten' }] } } })
    useModelsStore().ensure()
    const s = useTrainingStore()
    s.form.recipe = 'cnn'
    await s.start()
    const options = (fake.calls[0].args as { options: Record<string, unknown> }).options
    // What the contract's validation hands the service (defaults filled in).
    expect(TrainOptions.parse(options)).toMatchObject({ recipe: 'cnn', model: 'tiny', layers: [{ type: 'Flatten' }] })
    expect(options.base).toBeUndefined()
    expect(options.epochs).toBe(10)
  })
})
