import { resolve } from 'node:path'
import type { Events, RecipeStep, TrainingStatus } from '../../../shared/contract'
import { serializeError } from '../../../shared/errors'
import type { EpochMetrics, TrainEvent, TrainOptionsInput, TrainResult } from '../../../shared/training'
import { projectSpec } from '../models'
import { projectKey } from '../projects/identity'
import { loadRun } from '../../ml/training/runs'
import { startTraining, stopTraining, type StartTrainingControl } from './trainer'
import { calibrateAfterTraining } from './calibrate'
import { readExampleState, runExample, type RunExampleOptions } from '../examples'

/**
 * Fills what the user left out from the model chosen in the project (Model view / models.choose):
 * a custom CNN spec trains with the 'cnn' recipe, a transfer spec with its base. An example
 * project with no choice trains its recipe's model (the first stage's recipe, preset, base).
 */
export async function withProjectDefaults(dir: string, options: TrainOptionsInput): Promise<TrainOptionsInput> {
  if (options.recipe || options.model || options.resumeRunId) return options
  const spec = await projectSpec(dir)
  if (!spec) {
    const first = (await readExampleState(dir).catch(() => null))?.stages[0]?.options as TrainOptionsInput | undefined
    return first ? { ...options, recipe: first.recipe, ...(first.model ? { model: first.model } : {}), ...(first.base ? { base: first.base } : {}) } : options
  }
  if (spec.type === 'cnn') return { ...options, recipe: 'cnn', model: spec.preset ?? 'custom', layers: spec.layers }
  return { ...options, recipe: 'transfer', base: spec.base }
}

/** Trains with the project's defaults applied; the CLI and the studio both come through here. */
export async function train(dir: string, options: TrainOptionsInput, ctl: StartTrainingControl): Promise<TrainResult> {
  const result = await startTraining(dir, await withProjectDefaults(dir, options), ctl)
  await calibrateAfterTraining(dir, result, ctl.onEvent)
  return result
}

interface Session {
  runId: string | null
  backend: string | null
  threads: number | null
  epochs: EpochMetrics[]
  running: boolean
  recipe: RecipeStep | null
  /** Stops the whole job (a recipe: the current stage and every later step). */
  abort: AbortController
}
const sessions = new Map<string, Session>()

type Emit = (e: 'training', p: Events['training']) => void
type Report = (event: Events['training']['event'], recipe?: RecipeStep) => void

/**
 * Runs a training job in the background for the studio: returns once its first run has an id
 * (or the job failed to start), then broadcasts every event as a `training` event; status()
 * lets a reloaded page pick the curves up again.
 */
async function background(dirIn: string, emit: Emit, job: (report: Report, signal: AbortSignal) => Promise<unknown>, resumed?: { runId: string; epochs: EpochMetrics[] }): Promise<{ runId: string | null }> {
  const dir = resolve(dirIn)
  const session: Session = { runId: null, backend: null, threads: null, epochs: [], running: true, recipe: null, abort: new AbortController() }
  sessions.set(projectKey(dir), session)
  let started: (v: { runId: string | null }) => void = () => {}
  const first = new Promise<{ runId: string | null }>((r) => (started = r))
  const report: Report = (event, recipe) => {
    if (recipe) session.recipe = recipe
    if (event.type === 'start') {
      session.runId = event.runId
      session.backend = event.backend
      session.threads = event.threads ?? null
      // A resumed run: its earlier epochs belong to the curves a reloaded page shows.
      session.epochs = event.resumedFromEpoch > 0 && resumed?.runId === event.runId ? resumed.epochs.filter((m) => m.epoch <= event.resumedFromEpoch) : []
      started({ runId: event.runId })
    } else if (event.type === 'epoch') {
      const { type: _type, ...m } = event
      session.epochs.push(m)
    }
    emit('training', { dir, event, ...(recipe ? { recipe } : {}) })
  }
  const done = job(report, session.abort.signal)
    .catch((err: unknown) => {
      const { stack: _stack, ...error } = serializeError(err) // events reach the web bridge, which shows no stack
      report({ type: 'error', error }, session.recipe ?? undefined)
      throw err
    })
    .finally(() => {
      session.running = false
    })
  // Whichever comes first: the first run's start event, or the failure to start it.
  return Promise.race([first, done.then(() => ({ runId: session.runId }))])
}

/** Starts one training run in the background (training.start). */
export async function startInBackground(dir: string, options: TrainOptionsInput, emit: Emit): Promise<{ runId: string | null }> {
  // A resume: the run's finished epochs, read before it starts (the resumed run rewrites them
  // from its checkpoint, keeping the same ones), so status() shows the whole history at once.
  const resumeId = options.resumeRunId
  const resumed = resumeId ? { runId: resumeId, epochs: await loadRun(dir, resumeId).then((r) => r.metrics, () => []) } : undefined
  return background(dir, emit, (report, signal) => train(dir, options, { onEvent: (e) => report(e), signal }), resumed)
}

/**
 * Runs an example project's whole recipe in the background (examples.run): each stage through
 * the same training service, then the evaluation on the tutorial's split, every event tagged
 * with its recipe step. `deps` replaces training/evaluation in tests.
 */
export async function runRecipeInBackground(dir: string, emit: Emit, deps: Pick<RunExampleOptions, 'train' | 'evaluate'> = {}): Promise<{ runId: string | null }> {
  const state = await readExampleState(dir)
  const total = state.stages.length + 1
  const steps = new Map(state.stages.map((s, index) => [s.name, { step: s.name, title: s.title, index, total }]))
  const evaluateStep: RecipeStep = { step: 'evaluate', title: `Evaluate on the ${state.evaluateSplit} split`, index: total - 1, total }
  return background(dir, emit, async (report, signal) => {
    const r = await runExample(dir, {
      signal,
      train: deps.train ?? train,
      evaluate: deps.evaluate,
      onEvent: ({ stage, ...e }) => report(e as TrainEvent, steps.get(stage)),
      onProgress: (p) => {
        if (p.phase === 'evaluate') report({ type: 'log', message: p.message ?? evaluateStep.title }, evaluateStep)
      },
    })
    if (r.evaluation) report({ type: 'recipe-done', evaluation: r.evaluation, seconds: r.seconds }, evaluateStep)
    return r
  })
}

/** training.stop: stops the project's background job (a whole recipe too), else its training run. */
export function stopInBackground(dir: string): void {
  const s = sessions.get(projectKey(dir))
  if (s?.running) s.abort.abort()
  stopTraining(dir)
}

export function trainingStatus(dir: string): TrainingStatus {
  const s = sessions.get(projectKey(dir))
  return { running: !!s?.running, runId: s?.runId ?? null, epochs: s?.epochs ?? [], backend: s?.backend ?? null, threads: s?.threads ?? null, recipe: s?.running ? s.recipe : null }
}
