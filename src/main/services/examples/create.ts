import { join, resolve } from 'node:path'
import type { ProjectInfo } from '../../../shared/contract'
import { AppError, parseOrThrow } from '../../../shared/errors'
import type { ImportOptions, ImportSummary } from '../../../shared/datasets'
import { ExampleState, getExample, listExamples, type ExampleDef, type ExampleProgress, type ExampleSummary } from '../../../shared/examples'
import { appDataDir } from '../../platform/app-data'
import { importDataset } from '../datasets'
import { closeProject, createProject, projectInfo, readProject, updateProject } from '../projects'
import { claimNewProjectFolder, releaseNewProjectFolder } from '../ownership'
import { idxLinkFolder, resolveData, type ResolvedData } from './sources'

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
  return parseOrThrow(ExampleState, raw, `The example recipe in ${dir}/project.json`, 'Create the example project again.', 'PROJECT_DAMAGED')
}
