import { join, resolve } from 'node:path'
import type { ProjectInfo } from '../../../shared/contract'
import { AppError } from '../../../shared/errors'
import type { ImportOptions, ImportSummary } from '../../../shared/datasets'
import { ExampleState, getExample, listExamples, type ExampleDef, type ExampleProgress, type ExampleSummary } from '../../../shared/examples'
import type { EvaluationResult } from '../../../shared/evaluation'
import { NSFWJS_WEIGHTS_ID } from '../../../shared/models'
import type { TrainEvent, TrainOptionsInput, TrainResult } from '../../../shared/training'
import { appDataDir } from '../appdata'
import { importDataset } from '../datasets'
import { closeProject, createProject, projectInfo, readProject, updateProject } from '../projects'
import { claimNewProjectFolder, releaseNewProjectFolder } from '../ownership'
import { idxLinkFolder, resolveData, type ResolvedData } from './sources'

export { download, sha256File, cacheEntryDir, formatBytes, type DownloadProgress, type DownloadRequest, type DownloadResult } from './download'
export { extractZip, listZip, type ZipEntry } from './zip'
export { resolveData, type ResolvedData } from './sources'

/** Where downloads, extracted archives and link folders live: appDataDir()/datasets. */
export function datasetsCacheDir(): string {
  return join(appDataDir(), 'datasets')
}

export function examples(): ExampleSummary[] {
  return listExamples()
}

export interface CreateExampleOptions {
  /** A local folder/file (read in place, never copied) or a URL replacing the official one (a mirror folder URL, or the file URL for one-file data). */
  source?: string
  /** Display name of the project (default: the example's title). */
  name?: string
  onProgress?: (p: ExampleProgress) => void
  signal?: AbortSignal
  /** Cache root (default datasetsCacheDir()). */
  cacheDir?: string
  /** Whether the official weights for a base at a size are downloaded (default: the weights cache). */
  officialWeightsCached?: (base: 'mobilenetv2', inputSize: number) => Promise<boolean>
}

export interface CreateExampleResult {
  project: ProjectInfo
  example: ExampleState
  imports: ImportSummary[]
}

/** The base weights a run started from (its config), or null when unknown. */
async function runBaseWeights(dir: string, runId: string): Promise<string | null> {
  try {
    const { loadRun } = await import('../../ml/training/runs')
    return (await loadRun(dir, runId)).config.baseWeights ?? null
  } catch {
    return null
  }
}

async function officialWeightsCached(base: 'mobilenetv2', inputSize: number): Promise<boolean> {
  const { WeightsManager, weightsNameFor } = await import('../../ml/weights')
  return (await new WeightsManager().cached(weightsNameFor(base, { inputSize }))) !== null
}

/**
 * The input size to create the project at: the tutorial's, unless training will fall back to
 * the offline weights (the official ones for that size are not downloaded) and the example
 * names a better size for them.
 */
export async function exampleInputSize(def: ExampleDef, cached = officialWeightsCached): Promise<{ size: number; why?: string }> {
  const off = def.settings.offlineWeights
  if (!off || (await cached(off.base, def.settings.inputSize))) return { size: def.settings.inputSize }
  return { size: off.inputSize, why: off.why }
}

/** The imports of an example: source path + options (the tutorial's splits, the input size). */
async function importPlan(def: ExampleDef, data: ResolvedData, cacheDir: string, size: number): Promise<{ source: string; options: ImportOptions; note: string }[]> {
  const common = { size, resize: def.settings.resizeMode }
  if (def.data.kind === 'folder-archive') return def.data.imports.map((imp) => ({ source: data.root!, options: { ...common, ...imp.options }, note: imp.note }))
  const out: { source: string; options: ImportOptions; note: string }[] = []
  for (const imp of def.data.imports) {
    const paths = imp.roles.map((r) => data.files[r])
    let source: string
    if (def.data.kind === 'idx') {
      const images = paths[imp.roles.findIndex((r) => r.endsWith('images'))]
      const labels = paths[imp.roles.findIndex((r) => r.endsWith('labels'))]
      source = await idxLinkFolder(cacheDir, def.name, imp.roles[0].split('-')[0], images, labels, def.data.classNames)
    } else source = paths[0]
    out.push({ source, options: { ...common, ...imp.options }, note: imp.note })
  }
  return out
}

/**
 * Creates an example project in `dir` (new or empty): fetches the data set (cached: never twice;
 * checksum-verified; resumable) or uses the local source in place, imports it with the
 * tutorial's splits and input size, and stores the recipe in project.state.example.
 * The project is left open (locked) like createProject; close it with closeProject.
 * On failure or cancel exactly what it made is removed (the folder if it created it, else only the
 * entries it added; hidden entries that were there stay); downloads stay cached.
 */
export async function createExample(dir: string, name: string, opts: CreateExampleOptions = {}): Promise<CreateExampleResult> {
  const def = getExample(name)
  dir = resolve(dir)
  const cacheDir = opts.cacheDir ?? datasetsCacheDir()
  // The app's rule (../ownership.ts): a new or empty folder, not a project, not inside one.
  const claim = await claimNewProjectFolder(dir, 'Cannot create the example in')
  const data = await resolveData(def, opts.source, { cacheDir, onProgress: opts.onProgress, signal: opts.signal })
  opts.signal?.throwIfAborted()
  const input = await exampleInputSize(def, opts.officialWeightsCached)
  if (input.why) opts.onProgress?.({ phase: 'import', done: 0, total: 0, message: `Input size ${input.size}x${input.size} instead of the tutorial's ${def.settings.inputSize}: ${input.why}.` })
  const plan = await importPlan(def, data, cacheDir, input.size)
  await createProject(dir, opts.name ?? def.title)
  try {
    const imports: ImportSummary[] = []
    for (const [i, step] of plan.entries()) {
      const summary = await importDataset(dir, step.source, step.options, {
        signal: opts.signal,
        onProgress: (p) =>
          opts.onProgress?.({
            phase: 'import',
            done: p.done,
            total: p.total,
            rate: p.rate,
            etaSeconds: p.etaSeconds ?? undefined,
            message: `Importing ${i + 1}/${plan.length} (${step.note}): ${p.phase} ${p.done}${p.total ? `/${p.total}` : ''}`,
          }),
      })
      imports.push(summary)
    }
    const state: ExampleState = ExampleState.parse({
      name: def.name,
      stages: def.stages.map((s) => ({ name: s.name, title: s.title, options: s.options, ...(s.requiresPreset ? { requiresPreset: s.requiresPreset } : {}) })),
      evaluateSplit: def.evaluateSplit,
      source: { kind: data.kind, locations: data.locations },
      ...(def.data.labelNames ? { labelNames: def.data.labelNames } : {}),
      createdAt: new Date().toISOString(),
      ...(input.why ? { inputSize: { size: input.size, why: input.why } } : {}),
    })
    await updateProject(dir, (p) => {
      p.state.example = state
    })
    return { project: await projectInfo(dir), example: state, imports }
  } catch (err) {
    await closeProject(dir).catch(() => undefined)
    await releaseNewProjectFolder(claim)
    throw err
  }
}

export async function readExampleState(dir: string): Promise<ExampleState> {
  const p = await readProject(resolve(dir))
  const raw = p.state.example
  if (raw === undefined)
    throw new AppError('NOT_FOUND', `${dir} is not an example project (project.json has no state.example).`, 'Create one with `classifier-studio new <folder> --example NAME`, or train this project with `classifier-studio train`.')
  const parsed = ExampleState.safeParse(raw)
  if (!parsed.success)
    throw new AppError('PROJECT_DAMAGED', `The example recipe in ${dir}/project.json is damaged: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}.`, 'Create the example project again.')
  return parsed.data
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
  const m = await import('../training')
  return (dir, options, ctl) => m.startTraining(dir, options, ctl)
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
      ;(p.state.example as ExampleState).evaluation = evaluation!
    })
  }
  return { example: state.name, stages: outcomes, evaluation, seconds: (Date.now() - t0) / 1000 }
}
