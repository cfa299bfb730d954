import { resolve } from 'node:path'
import type { TrainingStatus } from '../../shared/contract'
import type { Events } from '../../shared/contract'
import type { EpochMetrics, TrainEvent, TrainOptionsInput, TrainResult } from '../../shared/training'
import { projectSpec } from './models'
import { startTraining, type StartTrainingControl } from './training'

/**
 * Fills what the user left out from the model chosen in the project (Model view / models.choose):
 * a custom CNN spec trains with the 'cnn' recipe, a transfer spec with its base.
 */
export async function withProjectDefaults(dir: string, options: TrainOptionsInput): Promise<TrainOptionsInput> {
  if (options.recipe || options.model || options.resumeRunId || options.resume) return options
  const spec = await projectSpec(dir)
  if (!spec) return options
  if (spec.type === 'cnn') return { ...options, recipe: 'cnn', model: spec.preset ?? 'custom', layers: spec.layers }
  return { ...options, recipe: 'transfer', base: spec.base }
}

/** Trains with the project's defaults applied; the CLI and the studio both come through here. */
export async function train(dir: string, options: TrainOptionsInput, ctl: StartTrainingControl): Promise<TrainResult> {
  return startTraining(dir, await withProjectDefaults(dir, options), ctl)
}

interface Session {
  runId: string | null
  backend: string | null
  epochs: EpochMetrics[]
  running: boolean
}
const sessions = new Map<string, Session>()

/**
 * Starts training in the background for the studio: returns once the run has an id (or failed
 * to start), then broadcasts every event as a `training` event; status() lets a reloaded page
 * pick the curves up again.
 */
export async function startInBackground(dirIn: string, options: TrainOptionsInput, emit: (e: 'training', p: Events['training']) => void): Promise<{ runId: string | null }> {
  const dir = resolve(dirIn)
  const session: Session = { runId: null, backend: null, epochs: [], running: true }
  sessions.set(dir, session)
  let started: (v: { runId: string | null }) => void = () => {}
  const first = new Promise<{ runId: string | null }>((r) => (started = r))
  const onEvent = (event: TrainEvent) => {
    if (event.type === 'start') {
      session.runId = event.runId
      session.backend = event.backend
      started({ runId: event.runId })
    } else if (event.type === 'epoch') {
      const { type: _type, ...m } = event
      session.epochs.push(m)
    }
    emit('training', { dir, event })
  }
  const done = train(dir, options, { onEvent })
    .catch((err: { name?: string; message?: string; hint?: string; code?: string; stack?: string }) => {
      emit('training', { dir, event: { type: 'error', error: { name: err.name ?? 'Error', message: err.message ?? String(err), hint: err.hint, code: err.code } } })
      throw err
    })
    .finally(() => {
      session.running = false
    })
  // Whichever comes first: the run's start event, or the failure to start it.
  return Promise.race([first, done.then((r) => ({ runId: r.runId }))])
}

export function trainingStatus(dir: string): TrainingStatus {
  const s = sessions.get(resolve(dir))
  return { running: !!s?.running, runId: s?.runId ?? null, epochs: s?.epochs ?? [], backend: s?.backend ?? null }
}
