import { z } from 'zod'
import { ProjectSettings, Split } from './project'
import { ImportOptions, type DatasetHealth, type ImportSummary, type SkippedFile } from './datasets'
import { ModelSpec, type LayerSpecInput, type ModelSummary } from './models'
import { TrainOptions, type TrainOptionsInput, type EpochMetrics, type RunInfo, type TrainEvent } from './training'
import { EvaluateOptions, PredictOptions, type EvaluationResult, type Prediction, type SaliencyOverlay } from './evaluation'
import { ExportOptions, type ExportResult } from './export'
import type { NearDuplicateReport, ReviewResult } from './review'
import { CompareOptions, type CompareResult } from './compare'
import { AppError, MAX_NESTING, parseOrThrow } from './errors'

/**
 * The one API contract. Every domain is a set of methods, each an input schema plus its
 * result type. ipc.ts (Electron), the web bridge (HTTP + WebSocket) and the preload all
 * derive from this object: adding a method = one entry here + one service function.
 */
export interface Method<I extends z.ZodType, O> {
  input: I
  /** Type-only marker for the result. */
  output?: O
  /** True when the method reports progress and can be cancelled. */
  long?: boolean
}

const method =
  <O>() =>
  <I extends z.ZodType>(input: I, opts: { long?: boolean } = {}): Method<I, O> => ({ input, ...opts })

/** A folder name for a new project: no separators, no '..', nothing a file system rejects. */
export const ProjectName = z
  .string()
  .trim()
  .min(1, 'A project needs a name.')
  .max(120, 'Keep project names under 120 characters.')
  .refine((n) => !/[/\\:*?"<>|\u0000-\u001f]/.test(n) && n !== '.' && n !== '..' && !n.startsWith('.'), {
    message: 'Use a plain folder name: no slashes, colons, wildcards, control characters, or leading dot.',
  })

const Dir = z.string().min(1, 'A folder path is required.')

export interface ProjectInfo {
  dir: string
  name: string
  createdAt: string
  updatedAt: string
  settings: ProjectSettings
  state: Record<string, unknown>
}

export interface RecentProject {
  dir: string
  name: string
  openedAt: string
  /** False when the folder is gone or no longer holds a project (kept until the user removes it). */
  available: boolean
}

export interface AppInfo {
  version: string
  dataDir: string
  /** Where the web studio creates new projects. */
  workspaceDir: string
  shell: 'electron' | 'web'
}

/** The dataset as the Data view shows it. */
export interface DatasetOverview {
  total: number
  classes: { name: string; count: number }[]
  splits: { train: number; validation: number; test: number }
  health: DatasetHealth | null
  /** Files the last import did not take, with reasons. */
  skipped: SkippedFile[]
  duplicates: { exact: number; crossSplit: number }
  imports: { source: string; at: string; added: number; skipped: number }[]
  settings: ProjectSettings
}

export interface DatasetPage {
  total: number
  items: { id: number; label: string; split: Split; src: string; excluded: boolean }[]
}

export interface ModelChoice {
  spec: ModelSpecOut
  summary: ModelSummary
}
type ModelSpecOut = z.output<typeof ModelSpec>

/** The official Keras ImageNet weights of a transfer base (models.weights, models.downloadWeights). */
export interface OfficialWeights {
  /** The weights manager's name, e.g. "mobilenetv2-1.0-224-notop". */
  name: string
  /** Keras's file name. */
  file: string
  base: 'mobilenetv2' | 'vgg16'
  /** In the app's weights cache: training uses it instead of the built-in weights. */
  cached: boolean
  path: string | null
  bytes: number | null
  /** downloadWeights: true when this call downloaded it (false: it was already cached). */
  downloaded: boolean
}

const WeightsQuery = z.object({ base: z.enum(['mobilenetv2', 'vgg16']).default('mobilenetv2'), inputSize: z.number().int().min(8).max(1024).optional() })

export interface ModelCatalog {
  presets: { name: string; title: string; description: string; inputShape: number[]; layers: LayerSpecInput[] }[]
  bases: { name: string; title: string; description: string }[]
}

export interface TrainingStatus {
  running: boolean
  runId: string | null
  /** The running run's events so far (epochs), so a reloaded page can redraw its curves. */
  epochs: EpochMetrics[]
  backend: string | null
  /** The running run's training threads (data-parallel on wasm); null before it started. */
  threads: number | null
  /** The step of an example's recipe that is running (examples.run), else null. */
  recipe: RecipeStep | null
}

/**
 * One step of an example's recipe run by examples.run: its training stages in order, then
 * the evaluation on the tutorial's split (the last step, named 'evaluate').
 */
export interface RecipeStep {
  step: string
  title: string
  /** 0-based; total counts the evaluation. */
  index: number
  total: number
}

/** Ends an examples.run: the recipe's last run evaluated on the tutorial's split. */
export interface RecipeDoneEvent {
  type: 'recipe-done'
  evaluation: { split: 'test' | 'validation'; runId: string; accuracy: number; loss: number }
  seconds: number
}

export interface RunDetail {
  run: RunInfo
  epochs: EpochMetrics[]
  config: unknown
}

/** training.exportJob: the job folder, its files and the command that runs it. */
export interface ClusterJobExport {
  dir: string
  files: string[]
  command: string
  jobId: string
  recipe: string
  epochs: number
  images: { train: number; validation: number }
}

/** training.importJob: the run made from the job, its epochs and the parity check. */
export interface ClusterJobImport {
  runId: string
  workers: number
  nodes: number
  device: string
  epochs: EpochMetrics[]
  best: { epoch: number; valAccuracy: number | null }
  parity: { images: number; maxAbsDiff: number; labelAgreement: number; tolerance: number; passed: boolean }
}

export interface ExampleInfo {
  name: string
  title: string
  description: string
}

/**
 * Training options are checked here but passed on as given (not with defaults filled), so the
 * service can tell what the user chose from what it should take from the project's model.
 */
const TrainOptionsArg = z
  .unknown()
  .superRefine((v, ctx) => {
    if (v === undefined) return
    const r = TrainOptions.safeParse(v)
    if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message, path: i.path })
  })
  .transform((v) => v as TrainOptionsInput | undefined)

export const contract = {
  app: {
    info: method<AppInfo>()(z.object({})),
    /** The desktop app's native folder dialog: the chosen folder, or null when cancelled. The browser studio uploads a folder instead. */
    chooseFolder: method<string | null>()(z.object({})),
  },
  projects: {
    create: method<ProjectInfo>()(z.object({ parent: Dir.optional(), name: ProjectName })),
    open: method<ProjectInfo>()(z.object({ dir: Dir })),
    close: method<void>()(z.object({ dir: Dir })),
    recent: method<RecentProject[]>()(z.object({})),
    rename: method<ProjectInfo>()(z.object({ dir: Dir, name: z.string().trim().min(1).max(200) })),
    forget: method<RecentProject[]>()(z.object({ dir: Dir })),
    saveState: method<ProjectInfo>()(z.object({ dir: Dir, key: z.string().min(1).max(64), value: z.unknown() })),
  },
  datasets: {
    import: method<ImportSummary>()(z.object({ dir: Dir, source: z.string().min(1, 'Choose a folder or file to import.'), options: ImportOptions.optional() }), { long: true }),
    overview: method<DatasetOverview>()(z.object({ dir: Dir })),
    items: method<DatasetPage>()(z.object({ dir: Dir, split: Split.optional(), label: z.string().optional(), offset: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(5000).default(200) })),
    exclude: method<DatasetOverview>()(z.object({ dir: Dir, ids: z.array(z.number().int().min(0)).min(1), excluded: z.boolean() })),
    /** Gives items another of the project's classes; the files stay where they are, the project keeps the new label. */
    relabel: method<DatasetOverview>()(z.object({ dir: Dir, ids: z.array(z.number().int().min(0)).min(1), label: z.string().min(1, 'Name the class to give the images.') })),
    /** Probably mislabeled images (confident learning on k-fold heads over the base's features), most suspect first. */
    review: method<ReviewResult>()(z.object({ dir: Dir }), { long: true }),
    /** Resized, recompressed or slightly cropped copies (perceptual hash), within and across splits. */
    nearDuplicates: method<NearDuplicateReport>()(z.object({ dir: Dir }), { long: true }),
    /** PNG data URLs of augmented training samples, for the augmentation preview grid. */
    augmentPreview: method<string[]>()(z.object({ dir: Dir, augment: z.string().default('flip,rotate=15,zoom=0.1'), count: z.number().int().min(1).max(32).default(8), seed: z.number().int().default(1) })),
    /**
     * Training images beside one augmented version each (PNG data URLs), for the augmentation
     * controls: the same seed picks the same images and the same random draws, so only the
     * spec changes what is shown.
     */
    augmentPairs: method<{ label: string; original: string; augmented: string }[]>()(
      z.object({ dir: Dir, augment: z.string(), count: z.number().int().min(1).max(12).default(4), seed: z.number().int().default(1) }),
    ),
  },
  models: {
    catalog: method<ModelCatalog>()(z.object({})),
    /** Keras-identical summary of a named model (preset or base) or of a spec for the project. */
    summary: method<ModelSummary>()(z.object({ dir: Dir.optional(), name: z.string().optional(), spec: ModelSpec.optional() })),
    choose: method<ModelChoice>()(z.object({ dir: Dir, spec: ModelSpec })),
    /** Whether the official ImageNet weights for a base (at the project's image size) are cached. No network. */
    weights: method<OfficialWeights>()(WeightsQuery),
    /**
     * Downloads the official ImageNet weights once (progress in bytes, resume, checksum) into the
     * app's weights cache, as `classifier-studio weights download` does; later transfer runs use them.
     */
    downloadWeights: method<OfficialWeights>()(WeightsQuery, { long: true }),
  },
  training: {
    /** Starts training in its own process and returns at once; progress arrives as `training` events. */
    start: method<{ runId: string | null }>()(z.object({ dir: Dir, options: TrainOptionsArg.optional() })),
    stop: method<void>()(z.object({ dir: Dir })),
    status: method<TrainingStatus>()(z.object({ dir: Dir })),
    runs: method<RunInfo[]>()(z.object({ dir: Dir })),
    run: method<RunDetail>()(z.object({ dir: Dir, runId: z.string().min(1) })),
    /**
     * Writes a PyTorch distributed (torchrun) job of the project with these training options, as
     * `classifier-studio job export` does; `out` follows the ownership rule (a new or empty folder,
     * <project>/exports/<name>, or with overwrite an earlier job that has not run).
     */
    exportJob: method<ClusterJobExport>()(z.object({ dir: Dir, out: z.string().min(1, 'Give the folder to write the job into.'), overwrite: z.boolean().optional(), options: TrainOptionsArg.optional() }), { long: true }),
    /** Brings a finished torchrun job back as a run (`job import`): refused unless the app and PyTorch agree to 1e-4. */
    importJob: method<ClusterJobImport>()(z.object({ dir: Dir, jobDir: z.string().min(1, 'Give the job folder to import.') })),
  },
  evaluation: {
    evaluate: method<EvaluationResult>()(z.object({ dir: Dir, options: EvaluateOptions.optional() }), { long: true }),
    /** Two runs side by side on a split: curves, metrics, confusion matrices and the images whose prediction changed. */
    compare: method<CompareResult>()(z.object({ dir: Dir, options: CompareOptions }), { long: true }),
    predict: method<Prediction[]>()(z.object({ dir: Dir, paths: z.array(z.string().min(1)).min(1, 'Give at least one file or folder.'), options: PredictOptions.optional() }), { long: true }),
    /** Predicts images sent as bytes (dropped or pasted in the UI), base64-encoded. */
    predictUploads: method<Prediction[]>()(z.object({ dir: Dir, files: z.array(z.object({ name: z.string().min(1).max(255), base64: z.string().max(8_000_000) })).min(1).max(64), options: PredictOptions.optional() }), { long: true }),
    /**
     * Gradient saliency overlays (PNG data URLs) for the predicted class of dataset items
     * (`ids`, the pixels the model saw), files on disk (`paths`) or uploaded images (`files`),
     * in that order; one model load for all of them.
     */
    saliency: method<SaliencyOverlay[]>()(
      z
        .object({
          dir: Dir,
          runId: z.string().min(1).optional(),
          ids: z.array(z.number().int().min(0)).max(64).optional(),
          paths: z.array(z.string().min(1)).max(64).optional(),
          files: z.array(z.object({ name: z.string().min(1).max(255), base64: z.string().max(8_000_000) })).max(16).optional(),
          size: z.number().int().min(32).max(512).optional(),
        })
        .refine((v) => (v.ids?.length ?? 0) + (v.paths?.length ?? 0) + (v.files?.length ?? 0) > 0, 'Give at least one image (ids, paths or files).'),
      { long: true },
    ),
  },
  export: {
    run: method<ExportResult>()(z.object({ dir: Dir, options: ExportOptions }), { long: true }),
  },
  examples: {
    list: method<ExampleInfo[]>()(z.object({})),
    /**
     * Runs an example project's whole recipe in the background (every stage, then the
     * evaluation): returns once the first run has started; progress arrives as `training`
     * events carrying their recipe step, ending with a 'recipe-done' event. training.stop stops it.
     */
    run: method<{ runId: string | null }>()(z.object({ dir: Dir })),
    /** Creates a project from a tutorial: fetches (or reads a local copy of) its data, imports it, presets model and recipe. */
    create: method<ProjectInfo>()(
      z.object({ parent: Dir.optional(), name: ProjectName, example: z.string().min(1), source: z.string().min(1).optional() }),
      { long: true },
    ),
  },
} as const

export type Contract = typeof contract
export type Domain = keyof Contract
export type MethodName<D extends Domain> = keyof Contract[D] & string
type MethodOf<D extends Domain, M extends MethodName<D>> = Contract[D][M]
export type Input<D extends Domain, M extends MethodName<D>> =
  MethodOf<D, M> extends Method<infer I, unknown> ? z.input<I> : never
export type Output<D extends Domain, M extends MethodName<D>> =
  MethodOf<D, M> extends Method<z.ZodType, infer O> ? O : never

/** Options a caller passes with a long call. `callId` lets it cancel the call with api.cancel. */
export interface CallOptions {
  onProgress?: (progress: Progress) => void
  callId?: string
}

export interface Progress {
  phase: string
  done: number
  total: number
  /** Items per second, when known. */
  rate?: number
  etaSeconds?: number
  message?: string
}

/** The typed API the renderer sees (window.api in Electron, the web client in a browser). */
export type Api = {
  [D in Domain]: {
    [M in MethodName<D>]: (args: Input<D, M>, opts?: CallOptions) => Promise<Output<D, M>>
  }
} & {
  /** Subscribe to a broadcast event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void
  /** Asks a long call started with this callId to stop; it then rejects with code CANCELLED. */
  cancel(callId: string): Promise<void>
}

/** Events broadcast to every window / browser tab (e.g. training progress). */
export interface Events {
  progress: { callId: string; progress: Progress }
  training: { dir: string; event: TrainEvent | RecipeDoneEvent; recipe?: RecipeStep }
}
export type EventName = keyof Events

export function domains(): Domain[] {
  return Object.keys(contract) as Domain[]
}

export function methodNames<D extends Domain>(domain: D): MethodName<D>[] {
  return Object.keys(contract[domain]) as MethodName<D>[]
}

/** A readable name for an argument's place: `source`, `paths.1`, `arguments`. */
const place = (path: (string | number)[]) => path.join('.') || 'arguments'

/** The most objects and arrays one call's arguments may hold (bounds the walk below and the schema's). */
const MAX_CONTAINERS = 100_000

/**
 * Refuses, before any schema runs, arguments nested deeper than MAX_NESTING or holding more
 * than MAX_CONTAINERS objects and arrays, and NUL bytes in any string (paths, names) or key:
 * no file system accepts them, and Node would fail on them later with a raw error. Iterative,
 * so hostile nesting cannot overflow the stack; bounded, so shared or cyclic values (IPC) end.
 */
function checkArgs(where: string, args: unknown): void {
  // Nodes are kept flat (value, depth, parent, key) so a path is only built for an error message.
  const values: object[] = []
  const depths: number[] = []
  const parents: number[] = []
  const keys: (string | number)[] = []
  const pathOf = (parent: number, key: string | number | null): (string | number)[] => {
    const path = key === null ? [] : [key]
    for (let i = parent; i > 0; i = parents[i]) path.unshift(keys[i])
    return path
  }
  const nul = (parent: number, key: string | number | null) => {
    const at = place(pathOf(parent, key))
    return new AppError('INVALID_INPUT', `Invalid arguments for ${where}: ${at} contains a NUL byte (\\0), which no path or name may hold.`, `Remove the NUL character from ${at}.`)
  }
  const visit = (v: unknown, depth: number, parent: number, key: string | number | null) => {
    if (typeof v === 'string') {
      if (v.includes('\0')) throw nul(parent, key)
    } else if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
      if (depth > MAX_NESTING)
        throw new AppError('BAD_REQUEST', `Invalid arguments for ${where}: nested deeper than ${MAX_NESTING} levels.`, `Send flatter data: at most ${MAX_NESTING} levels of nested objects or arrays.`)
      if (values.length >= MAX_CONTAINERS)
        throw new AppError('BAD_REQUEST', `Invalid arguments for ${where}: more than ${MAX_CONTAINERS} objects and arrays.`, 'Send fewer values in one call.')
      values.push(v)
      depths.push(depth)
      parents.push(parent)
      keys.push(key ?? '')
    }
  }
  visit(args, 1, 0, null)
  // Index 0 is the root; children record their parent's index, so the walk is a queue.
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    const d = depths[i] + 1
    if (Array.isArray(v)) for (let j = 0; j < v.length; j++) visit(v[j], d, i, j)
    else
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue
        if (k.includes('\0')) throw nul(i, k)
        visit((v as Record<string, unknown>)[k], d, i, k)
      }
  }
}

/** Validates a call's domain, method and arguments. Throws a readable message on bad input. */
export function validateCall(domain: string, name: string, args: unknown): { domain: Domain; name: string; args: unknown; long: boolean } {
  if (!Object.hasOwn(contract, domain)) throw new AppError('BAD_REQUEST', `Unknown API domain "${shortName(domain)}".`, `Known domains: ${domains().join(', ')}.`)
  const methods = contract[domain as Domain] as Record<string, Method<z.ZodType, unknown>>
  if (!Object.hasOwn(methods, name)) throw new AppError('BAD_REQUEST', `Unknown API method "${domain}.${shortName(name)}".`, `Methods of ${domain}: ${Object.keys(methods).join(', ')}.`)
  const m = methods[name]
  checkArgs(`${domain}.${name}`, args)
  const parsed = parseOrThrow(m.input, args ?? {}, `arguments for ${domain}.${name}`, `Check the named argument(s) of ${domain}.${name} (src/shared/contract.ts).`, 'BAD_REQUEST')
  return { domain: domain as Domain, name, args: parsed, long: !!m.long }
}

/** A caller-given name, shortened and without control characters, for a message. */
function shortName(s: string): string {
  const clean = s.replace(/[\u0000-\u001f]/g, '?')
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean
}
