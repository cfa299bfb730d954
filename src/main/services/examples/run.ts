import { resolve } from 'node:path'
import { AppError } from '../../../shared/errors'
import { ExampleState, getExample, type ExampleProgress } from '../../../shared/examples'
import type { EvaluationResult } from '../../../shared/evaluation'
import { NSFWJS_WEIGHTS_ID } from '../../../shared/models'
import type { TrainEvent, TrainOptionsInput, TrainResult } from '../../../shared/training'
import { updateProject } from '../projects'
import { readExampleState } from './create'

/** The base weights a run started from (its config), or null when unknown. */
async function runBaseWeights(dir: string, runId: string): Promise<string | null> {
  try {
    const { loadRun } = await import('../../ml/training/runs')
    return (await loadRun(dir, runId)).config.baseWeights ?? null
  } catch {
    return null
  }
}

export type TrainFn = (dir: string, options: TrainOptionsInput, ctl: { onEvent?: (e: TrainEvent) => void; signal?: AbortSignal }) => Promise<TrainResult>
export type EvaluateFn = (dir: string, options: { split: 'test' | 'validation'; runId: string; force?: boolean }, ctl: { signal?: AbortSignal }) => Promise<EvaluationResult>

export interface RunExampleOptions {
  onEvent?: (e: TrainEvent & { stage: string }) => void
  onProgress?: (p: ExampleProgress) => void
  signal?: AbortSignal
  /** Base weights (Keras .h5 / TF.js model.json) for transfer stages, e.g. the VGG16 ImageNet weights. */
  baseWeights?: string
  /** The base weights id a run used (default: read from the run's config). */
  runBaseWeights?: (dir: string, runId: string) => Promise<string | null>
  /** Only these stages (by name), in the recipe's order. */
  stages?: string[]
  /** Changes to the recipe, per stage name or '*' for all (e.g. fewer epochs for a quick run). */
  overrides?: Record<string, Partial<TrainOptionsInput>>
  /** Defaults: the training service's startTraining (a separate process) and evaluation's evaluate. */
  train?: TrainFn
  evaluate?: EvaluateFn
  /** Known CNN presets (default: the model zoo's). */
  presets?: string[]
}

export interface StageOutcome {
  stage: string
  options: TrainOptionsInput
  result: TrainResult
  seconds: number
}

export interface RunExampleResult {
  example: string
  stages: StageOutcome[]
  evaluation: { split: 'test' | 'validation'; runId: string; accuracy: number; loss: number } | null
  seconds: number
}

async function defaultTrain(): Promise<TrainFn> {
  // The session's train: the project's defaults, then the temperature fitted on validation.
  const m = await import('../training/session')
  return (dir, options, ctl) => m.train(dir, options, ctl)
}

async function defaultEvaluate(): Promise<EvaluateFn> {
  // Evaluation runs in this process: use the fastest backend here too (TF.js starts on 'cpu').
  const { initBackend } = await import('../../ml/backend')
  await initBackend((process.env.CLASSIFIER_STUDIO_BACKEND as Parameters<typeof initBackend>[0] | undefined) ?? 'auto')
  const m = await import('../evaluation')
  return (dir, options, ctl) => m.evaluate(dir, options, ctl)
}

/**
 * Runs the example's recipe: each stage in order through the training service (a fine-tune
 * stage continues from the previous stage's run), then evaluates the last run on the
 * tutorial's split. Results are stored in project.state.example. Cancel = the current stage
 * stops after its batch (its run can be resumed) and no later stage starts.
 */
export async function runExample(dir: string, opts: RunExampleOptions = {}): Promise<RunExampleResult> {
  dir = resolve(dir)
  const t0 = Date.now()
  const state = await readExampleState(dir)
  const def = getExample(state.name)
  const stages = opts.stages ? state.stages.filter((s) => opts.stages!.includes(s.name)) : state.stages
  if (opts.stages) {
    const unknown = opts.stages.filter((n) => !state.stages.some((s) => s.name === n))
    if (unknown.length) throw new AppError('INVALID_INPUT', `Example ${state.name} has no stage ${unknown.join(', ')}.`, `Its stages: ${state.stages.map((s) => s.name).join(', ')}.`)
  }
  const presets = opts.presets ?? Object.keys((await import('../../ml/models')).CNN_PRESETS)
  // The caller's overrides win over the recipe's options (and over its offline-weights options).
  const withOverrides = (name: string, o: TrainOptionsInput): TrainOptionsInput => ({ ...o, ...(opts.overrides?.['*'] ?? {}), ...(opts.overrides?.[name] ?? {}) })
  const plans = stages.map((s) => {
    const o = withOverrides(s.name, s.options as TrainOptionsInput)
    if (opts.baseWeights && (o.recipe ?? 'transfer') === 'transfer') o.baseWeights = opts.baseWeights
    return { stage: s, options: o }
  })
  for (const { stage, options } of plans) {
    const preset = options.recipe === 'cnn' ? options.model : undefined
    if (preset && !presets.includes(preset))
      throw new AppError('NOT_IMPLEMENTED', `Stage "${stage.name}" of ${def.title} needs the model preset "${preset}", which this version's model zoo does not have.`, `Run the other stages with --stages ${plans.filter((p) => p.options.model !== preset).map((p) => p.stage.name).join(',') || '(none)'}; known presets: ${presets.join(', ')}.`)
    if ((options.recipe ?? 'transfer') === 'transfer' && options.base === 'vgg16' && !options.baseWeights)
      throw new AppError('NOT_FOUND', `${def.title} needs the VGG16 ImageNet weights, which cannot be bundled.`, 'Download vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (Keras Applications) and pass it as base weights (--base-weights PATH).')
  }
  const train = opts.train ?? (await defaultTrain())
  const outcomes: StageOutcome[] = []
  let prevRun: string | null = null
  for (const [i, { stage, options }] of plans.entries()) {
    opts.signal?.throwIfAborted()
    let o: TrainOptionsInput = { ...options }
    if (o.recipe === 'finetune' && prevRun && !o.fromRunId) o.fromRunId = prevRun
    const offline = def.stages.find((s) => s.name === stage.name)?.offlineWeights
    if (offline && o.fromRunId && (await (opts.runBaseWeights ?? runBaseWeights)(dir, o.fromRunId)) === NSFWJS_WEIGHTS_ID) {
      o = withOverrides(stage.name, { ...o, ...offline.options })
      opts.onEvent?.({ type: 'log', message: `Offline MobileNetV2 weights: ${offline.why}.`, stage: stage.name })
    }
    opts.onProgress?.({ phase: 'train', done: i, total: plans.length, message: `Stage ${i + 1}/${plans.length}: ${stage.title}` })
    const s0 = Date.now()
    const result = await train(dir, o, { signal: opts.signal, onEvent: (e) => opts.onEvent?.({ ...e, stage: stage.name }) })
    outcomes.push({ stage: stage.name, options: o, result, seconds: (Date.now() - s0) / 1000 })
    prevRun = result.runId
    await updateProject(dir, (p) => {
      const st = p.state.example as ExampleState
      const rest = (st.results ?? []).filter((r) => r.stage !== stage.name)
      st.results = [...rest, { stage: stage.name, runId: result.runId, epochs: result.epochs.length, bestEpoch: result.best.epoch, valAccuracy: result.best.valAccuracy, seconds: (Date.now() - s0) / 1000 }]
    })
    if (result.stopped)
      throw new AppError('CANCELLED', `${def.title} stopped during stage "${stage.name}" (run ${result.runId}, ${result.epochs.length} epoch(s) done); later stages were not started.`, `Resume that run with classifier-studio train <project> --resume ${result.runId}.`)
  }
  let evaluation: RunExampleResult['evaluation'] = null
  if (prevRun) {
    opts.onProgress?.({ phase: 'evaluate', done: 0, total: 1, message: `Evaluating run ${prevRun} on the ${state.evaluateSplit} split` })
    const evaluate = opts.evaluate ?? (await defaultEvaluate())
    const ev = await evaluate(dir, { split: state.evaluateSplit, runId: prevRun, force: true }, { signal: opts.signal })
    evaluation = { split: state.evaluateSplit, runId: prevRun, accuracy: ev.accuracy, loss: ev.loss }
    await updateProject(dir, (p) => {
      const example = p.state.example as ExampleState
      example.evaluation = evaluation!
    })
  }
  return { example: state.name, stages: outcomes, evaluation, seconds: (Date.now() - t0) / 1000 }
}
