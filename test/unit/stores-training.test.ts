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
    // Transfer by default: no epochs and no early stopping sent, so the service chooses both from the data.
    const o = formToOptions(defaultForm())
    expect(o).not.toHaveProperty('epochs')
    expect(o).not.toHaveProperty('earlyStop')
    const parsed = TrainOptions.parse(o)
    expect(parsed).toMatchObject({ recipe: 'transfer', base: 'mobilenetv2', autoEpochs: true, batchSize: 32, augment: {} })
    expect(parsed.earlyStop).toBeUndefined()
    expect(parsed.learningRate).toBeUndefined()
    // Typed epochs (or a changed early stopping) are sent as given.
    expect(TrainOptions.parse(formToOptions({ ...defaultForm(), autoEpochs: false }))).toMatchObject({ epochs: 10, autoEpochs: false, earlyStop: { patience: 3, monitor: 'val_loss' } })
    expect(TrainOptions.parse(formToOptions({ ...defaultForm(), autoPatience: false, patience: 7 }))).toMatchObject({ autoEpochs: true, earlyStop: { patience: 7 } })
    expect(TrainOptions.parse(formToOptions({ ...defaultForm(), earlyStop: false }))).toMatchObject({ autoEpochs: true, earlyStop: false })
    // Fine-tuning and CNNs take a number of epochs (the schedule is the transfer recipe's).
    expect(TrainOptions.parse(formToOptions({ ...defaultForm(), recipe: 'finetune' }))).toMatchObject({ epochs: 10, autoEpochs: false, earlyStop: { patience: 3 } })
    const f = { ...defaultForm(), recipe: 'cnn' as const, learningRate: 0.01, augment: 'flip,rotate=15', earlyStop: false }
    const p2 = TrainOptions.parse(formToOptions(f))
    expect(p2).toMatchObject({ recipe: 'cnn', learningRate: 0.01, augment: { flip: 'horizontal', rotate: 15 }, earlyStop: false })
  })

  it('draws live curves from this project’s training events and reloads runs when done', async () => {
    const fake = setup({ 'training.start': () => ({ runId: 'r2' }), 'training.runs': () => [run('r2', '2026-02-01')] }, { dir: DIR })
    const s = useTrainingStore()
    s.form.epochs = 2
    s.form.autoEpochs = false
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
    expect(s.lastResult).toEqual({ stoppedEarly: false, stopped: false, bestEpoch: 2, stillImproving: false, weightsNote: null })
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

  it('after a reload mid-run shows the running run, its backend and its training threads', async () => {
    setup(
      {
        'training.status': () => ({ running: true, runId: 'r1', epochs: [epoch(1, 0.6)], backend: 'wasm', threads: 2, recipe: null }),
        'training.runs': () => [run('r1', '2026-03-01', 'running')],
        'training.run': ({ runId }) => ({ run: run(runId, 'x', 'running'), epochs: [epoch(1, 0.6)], config: {} }),
      },
      { dir: DIR },
    )
    const s = useTrainingStore()
    await s.load()
    expect(s.running).toBe(true)
    expect(s.runId).toBe('r1')
    expect(s.backend).toBe('wasm')
    expect(s.threads).toBe(2)
  })

  it('shows a start failure inline and is not left running; resume passes the run id', async () => {
    const fake = setup({ 'training.start': () => { throw appError('NOT_IMPLEMENTED', 'Training is not implemented yet.', 'Use the CLI.') } }, { dir: DIR })
    const s = useTrainingStore()
    await s.resume('r1')
    expect(s.running).toBe(false)
    expect(s.error?.message).toBe('Training is not implemented yet.')
    const start = fake.calls.find((c) => c.method === 'training.start')!
    expect(start.args).toEqual({ dir: DIR, options: { resumeRunId: 'r1' } })
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
    expect(starts[0].args).toEqual({ dir: DIR, options: { resumeRunId: 'r1' } })
    expect(s.running).toBe(false)
    expect(s.error).toEqual({ message: 'Could not resume run r1: damaged.', hint: 'The run was left as it was (stopped, 2 of 4 epochs done).' })
    expect(s.epochs.map((e) => e.epoch)).toEqual([1, 2])
    expect(s.runId).toBe('r1')
    // The form shows the run's own settings.
    expect([s.form.epochs, s.form.batchSize, s.form.augment]).toEqual([4, 8, 'flip'])
    expect(s.resumable?.runId).toBe('r1')
    // The user types a new total: it goes with the run id (and the button says so).
    s.form.epochs = 6
    s.epochsEdited = true
    expect(s.resumeTotal(run)).toBe(6)
    await s.resume('r1')
    starts = fake.calls.filter((c) => c.method === 'training.start')
    expect(starts[1].args).toEqual({ dir: DIR, options: { resumeRunId: 'r1', epochs: 6 } })
  })

  it('a run still improving at its last epoch offers Resume with twice its epochs; the weights note comes with the result', async () => {
    const note = 'This model was trained on the built-in MobileNetV2 weights…'
    const done = { ...run('a1', '2026-03-01'), epochsPlanned: 17, epochsDone: 17, stillImproving: true, weightsNote: note }
    const fake = setup({ 'training.start': () => ({ runId: 'a1' }), 'training.runs': () => [done], 'training.run': () => ({ run: done, epochs: [], config: { options: { recipe: 'transfer', autoEpochs: true, epochs: 17, earlyStop: { patience: 5 } } } }) }, { dir: DIR })
    const s = useTrainingStore()
    await s.start()
    expect((fake.calls[0].args as { options: Record<string, unknown> }).options).toMatchObject({ recipe: 'transfer', autoEpochs: true })
    fake.emit('training', { dir: DIR, event: { type: 'start', runId: 'a1', backend: 'wasm', reason: '', recipe: 'transfer', epochs: 17, resumedFromEpoch: 0 } })
    await tick()
    // A run on the schedule keeps the form on the schedule (its chosen 17 epochs are not typed in).
    expect(s.form.autoEpochs).toBe(true)
    fake.emit('training', { dir: DIR, event: { type: 'done', result: { runId: 'a1', backend: 'wasm', recipe: 'transfer', epochs: [epoch(1, 0.7)], best: { epoch: 17, valAccuracy: 0.8, monitor: 'val_loss', value: 0.6 }, stoppedEarly: false, stopped: false, stillImproving: true, weightsNote: note } } })
    await tick()
    expect([s.stillImproving, s.weightsNote, s.moreEpochs]).toEqual([true, note, 34])
    await s.resume('a1', s.moreEpochs)
    expect(fake.calls.filter((c) => c.method === 'training.start')[1].args).toEqual({ dir: DIR, options: { resumeRunId: 'a1', epochs: 34 } })
  })

  it('downloads the official weights with progress and remembers they are cached; a failure is shown', async () => {
    let fail = true
    const fake = setup(
      {
        'models.weights': () => ({ name: 'mobilenetv2-1.0-96-notop', file: 'w.h5', base: 'mobilenetv2', cached: false, path: null, bytes: null, downloaded: false }),
        'models.downloadWeights': (_a, opts) => {
          opts?.onProgress?.({ phase: 'download', done: 5e6, total: 14e6 })
          if (fail) throw appError('NOT_FOUND', 'storage.googleapis.com cannot be reached from this computer (ENOTFOUND).', 'Connect to the internet.')
          return { name: 'mobilenetv2-1.0-96-notop', file: 'w.h5', base: 'mobilenetv2', cached: true, path: '/h/w.h5', bytes: 14e6, downloaded: true }
        },
      },
      { dir: DIR },
    )
    const s = useTrainingStore()
    await s.checkWeights()
    expect(s.official?.cached).toBe(false)
    const seen: unknown[] = []
    const p = s.downloadWeights()
    seen.push(s.weightsProgress)
    await p
    expect(seen[0]).toMatchObject({ phase: 'download', done: 5e6, total: 14e6 })
    expect(s.weightsError?.message).toContain('cannot be reached')
    expect(s.weightsProgress).toBeNull()
    fail = false
    await s.downloadWeights()
    expect([s.official?.cached, s.weightsError]).toEqual([true, null])
    expect(fake.calls.filter((c) => c.method === 'models.downloadWeights').map((c) => c.args)).toEqual([{ base: 'mobilenetv2', inputSize: 96 }, { base: 'mobilenetv2', inputSize: 96 }]) // the project's image size picks the file
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

  it('Run on a cluster: exports the form’s options into <project>/exports/<name>-job, then imports the job into Past runs; errors stay in place', async () => {
    const exported = { dir: `${DIR}/exports/my-shapes-job`, files: ['job.json', 'train.py'], command: `torchrun --standalone --nproc_per_node=auto ${DIR}/exports/my-shapes-job/train.py`, jobId: 'j1', recipe: 'transfer', epochs: 5, images: { train: 18, validation: 6 } }
    const origin = { kind: 'torchrun' as const, jobId: 'j1', worldSize: 2, nodes: 1, device: 'cpu', deviceName: 'cpu', importedAt: '2026-02-02T00:00:00Z' }
    let imported = false
    const fake = setup(
      {
        'training.exportJob': () => exported,
        'training.importJob': (a: { jobDir: string }) => {
          if (a.jobDir !== exported.dir) throw appError('NOT_FOUND', `No job folder at ${a.jobDir}.`, 'Give the folder that `classifier-studio job export` wrote (it holds job.json and train.py).')
          imported = true
          return { runId: 'r9', workers: 2, nodes: 1, device: 'cpu', epochs: [epoch(1, 0.7)], best: { epoch: 1, valAccuracy: 0.7 }, parity: { images: 6, maxAbsDiff: 1e-7, labelAgreement: 1, tolerance: 1e-4, passed: true } }
        },
        'training.runs': () => (imported ? [{ ...run('r9', '2026-02-02'), origin }] : []),
        'training.run': () => ({ run: { ...run('r9', '2026-02-02'), origin }, epochs: [epoch(1, 0.7)], config: {} }),
      },
      { dir: DIR, name: 'My shapes!' },
    )
    const s = useTrainingStore()
    expect(s.suggestedJobOut).toBe(`${DIR}/exports/my-shapes-job`)
    Object.assign(s.form, { epochs: 5, autoEpochs: false, batchSize: 8 })
    await s.exportJob()
    const call = fake.calls.find((c) => c.method === 'training.exportJob')!
    expect(call.args).toMatchObject({ dir: DIR, out: `${DIR}/exports/my-shapes-job`, options: { recipe: 'transfer', epochs: 5, batchSize: 8 } })
    expect(TrainOptions.parse((call.args as { options: unknown }).options)).toMatchObject({ epochs: 5, batchSize: 8 })
    expect(s.cluster.exported?.command).toBe(exported.command)
    expect(s.cluster.jobDir).toBe(exported.dir)
    expect(s.running).toBe(false) // an export starts no training

    s.cluster.jobDir = '/nowhere'
    await s.importJob()
    expect(s.cluster.importError).toMatchObject({ message: 'No job folder at /nowhere.', hint: expect.stringContaining('job.json') })
    s.cluster.jobDir = exported.dir
    await s.importJob()
    expect(s.cluster.importError).toBeNull()
    expect(s.cluster.imported?.runId).toBe('r9')
    expect(s.runs.map((r) => r.runId)).toEqual(['r9'])
    expect(s.originText(s.runs[0])).toBe('torchrun (2 workers, cpu)')
    expect(s.originText({ origin: { ...origin, worldSize: 16, nodes: 2, device: 'cuda' } })).toBe('torchrun (16 workers on 2 nodes, cuda)')
    expect(s.originText({ origin: null })).toBeNull()
    expect(s.runId).toBe('r9')
  })
})
