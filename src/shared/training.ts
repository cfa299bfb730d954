import { z } from 'zod'
import { AppError, parseOrThrow, type SerializedError } from './errors'
import { LayerSpec } from './models'

/**
 * Training options, results and progress events. Pure TS: shared by the training service,
 * the worker process, the CLI (`train`) and the renderer.
 *
 * One name per option: the CLI maps its flags to these (`--batch` → batchSize, `--lr` →
 * learningRate, `--resume` → resumeRunId), so `TrainOptions.parse({ batchSize: 16,
 * learningRate: 1e-3, augment: 'flip,rotate=15', earlyStop: 3 })` is what `train --batch 16
 * --lr 1e-3 --augment flip,rotate=15 --early-stop 3` builds.
 * `TrainOptions.parse({})` gives the one-click defaults (transfer learning from MobileNetV2):
 * with no `epochs` given, `autoEpochs` is on (epochs chosen from the training-set size, early
 * stopping with restore-best unless `earlyStop` says otherwise), and `baseCut: 'auto'` lets the
 * engine cut the offline base where its features measure best (see recipes.ts).
 */

export const Recipe = z.enum(['transfer', 'finetune', 'cnn'])
export type Recipe = z.infer<typeof Recipe>
export const BaseName = z.enum(['mobilenetv2', 'vgg16'])
export type BaseName = z.infer<typeof BaseName>
export const OptimizerName = z.enum(['adam', 'rmsprop', 'sgd'])
export type OptimizerName = z.infer<typeof OptimizerName>
export const MonitorMode = z.enum(['auto', 'min', 'max'])
export type MonitorMode = z.infer<typeof MonitorMode>
/** The quantities a callback can watch (Keras names). */
export const MonitorName = z.enum(['val_loss', 'val_accuracy', 'loss', 'accuracy'])
export type MonitorName = z.infer<typeof MonitorName>

const frac = (name: string) =>
  z
    .number()
    .min(0, `${name} must be between 0 and 1 (a fraction of the image), e.g. ${name}=0.1.`)
    .max(1, `${name} must be between 0 and 1 (a fraction of the image), e.g. ${name}=0.1.`)

/** Random augmentation of the training split (never validation/test). All off when absent. */
export const AugmentSpec = z
  .object({
    flip: z.enum(['horizontal', 'vertical', 'both']).optional(),
    /** Maximum rotation in degrees, either way (Keras RandomRotation factor = rotate / 360). */
    rotate: z.number().min(0, 'rotate is a maximum angle in degrees, 0..180.').max(180, 'rotate is a maximum angle in degrees, 0..180.').optional(),
    /** Zoom in or out by up to this fraction (Keras RandomZoom height_factor). */
    zoom: frac('zoom').optional(),
    /** Horizontal shift by up to this fraction of the width (Keras RandomTranslation). */
    shiftX: frac('shiftX').optional(),
    /** Vertical shift by up to this fraction of the height. */
    shiftY: frac('shiftY').optional(),
    /** Brightness change by up to this fraction of the value range (Keras RandomBrightness factor). */
    brightness: frac('brightness').optional(),
  })
  .strict()
export type AugmentSpec = z.infer<typeof AugmentSpec>

/** True when the spec changes images at all. */
export function augmentEnabled(a: AugmentSpec | undefined): boolean {
  if (!a) return false
  return !!(a.flip || a.rotate || a.zoom || a.shiftX || a.shiftY || a.brightness)
}

const AUGMENT_KEYS = ['flip', 'rotate', 'zoom', 'shift', 'shiftX', 'shiftY', 'brightness'] as const

/**
 * Parses the CLI's `--augment` value: comma-separated `key` or `key=value`.
 * `flip` = horizontal flip (`flip=vertical|both`), `rotate=15` degrees, `zoom=0.1`,
 * `shift=0.1` (both directions) or `shiftX=`/`shiftY=`, `brightness=0.2`.
 * `''` and `none` give no augmentation. Throws with a message naming the bad part.
 */
export function parseAugment(text: string): AugmentSpec {
  const out: Record<string, unknown> = {}
  const t = text.trim()
  if (t === '' || t === 'none' || t === 'off') return {}
  for (const rawPart of t.split(',')) {
    const part = rawPart.trim()
    if (!part) continue
    const [rawKey, rawValue, extra] = part.split('=')
    const key = rawKey.trim()
    if (extra !== undefined || !(AUGMENT_KEYS as readonly string[]).includes(key))
      throw new AppError('INVALID_INPUT', `Cannot read augmentation "${part}" in "${text}". Expected a comma-separated list of ${AUGMENT_KEYS.join(', ')} (with =value), e.g. "flip,rotate=15,zoom=0.1".`)
    if (key === 'flip') {
      const v = rawValue === undefined ? 'horizontal' : rawValue.trim()
      if (v !== 'horizontal' && v !== 'vertical' && v !== 'both')
        throw new AppError('INVALID_INPUT', `Cannot read "${part}": flip takes horizontal, vertical or both (plain "flip" means horizontal).`)
      out.flip = v
      continue
    }
    if (rawValue === undefined || rawValue.trim() === '')
      throw new AppError('INVALID_INPUT', `Augmentation "${key}" needs a value, e.g. "${key}=${key === 'rotate' ? '15' : '0.1'}".`)
    const n = Number(rawValue)
    if (!Number.isFinite(n)) throw new AppError('INVALID_INPUT', `Cannot read "${part}": "${rawValue}" is not a number.`)
    if (key === 'shift') {
      out.shiftX = n
      out.shiftY = n
    } else out[key] = n
  }
  return parseOrThrow(AugmentSpec, out, `augmentation "${text}"`)
}

/** The inverse of parseAugment, for logs and the UI. */
export function formatAugment(a: AugmentSpec | undefined): string {
  if (!augmentEnabled(a)) return 'none'
  const parts: string[] = []
  if (a!.flip) parts.push(a!.flip === 'horizontal' ? 'flip' : `flip=${a!.flip}`)
  for (const k of ['rotate', 'zoom', 'shiftX', 'shiftY', 'brightness'] as const) if (a![k]) parts.push(`${k}=${a![k]}`)
  return parts.join(',')
}

export const EarlyStopSpec = z
  .object({
    monitor: MonitorName.default('val_loss'),
    patience: z.number().int().min(0).default(3),
    mode: MonitorMode.default('auto'),
    minDelta: z.number().min(0).default(0),
    restoreBestWeights: z.boolean().default(true),
  })
  .strict()
export type EarlyStopSpec = z.infer<typeof EarlyStopSpec>

export const ReduceLrSpec = z
  .object({
    monitor: MonitorName.default('val_loss'),
    factor: z.number().gt(0).lt(1, 'factor must be below 1: ReduceLROnPlateau multiplies the learning rate by it.').default(0.1),
    patience: z.number().int().min(0).default(10),
    mode: MonitorMode.default('auto'),
    minDelta: z.number().min(0).default(1e-4),
    cooldown: z.number().int().min(0).default(0),
    minLr: z.number().min(0).default(0),
  })
  .strict()
export type ReduceLrSpec = z.infer<typeof ReduceLrSpec>

const TrainOptionsObject = z
  .object({
    recipe: Recipe.default('transfer'),
    base: BaseName.default('mobilenetv2'),
    /** Model-zoo preset (or spec name) for recipe 'cnn'. */
    model: z.string().min(1).optional(),
    /** Recipe 'cnn': the hidden layers of a custom CNN (the Model view's layer editor); overrides `model`. */
    layers: z.array(LayerSpec).min(1).optional(),
    epochs: z.number().int().min(1).max(10_000).default(10),
    /**
     * Choose the number of epochs from the data (transfer recipe): on by default when `epochs`
     * is not given. Also turns early stopping on (restore best) when `earlyStop` is not given.
     * The chosen number is stored as the run's `epochs`.
     */
    autoEpochs: z.boolean().default(false),
    /**
     * Transfer: where the frozen base is cut (the head reads that layer's output through global
     * average pooling). 'auto' = the best-measuring cut for the base's weights (the offline
     * nsfwjs MobileNetV2: the output of block 16, before Conv_1; official Keras weights: the whole base);
     * 'full' = the whole base; or a layer name of the base. A run stores the cut it used.
     */
    baseCut: z.string().min(1).default('auto'),
    batchSize: z.number().int().min(1).max(4096).default(32),
    /** Head / CNN learning rate. Finetune uses fineTuneLearningRate unless this is given. */
    learningRate: z.number().gt(0).max(10).optional(),
    optimizer: OptimizerName.optional(),
    /** Fine-tune: unfreeze the top N layers of the base, or from the named layer/block on. Default: top 30 % of layers. */
    fineTuneFrom: z.union([z.number().int().min(0), z.string().min(1)]).optional(),
    fineTuneLearningRate: z.number().gt(0).max(1).default(1e-5),
    augment: z
      .preprocess((v, ctx) => {
        if (typeof v !== 'string') return v
        try {
          return parseAugment(v)
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message, input: v })
          return z.NEVER
        }
      }, AugmentSpec)
      .default({}),
    /** A number = patience with Keras-like defaults (val_loss, restore best weights); false/absent = off. */
    earlyStop: z.union([z.number().int().min(0).transform((patience) => EarlyStopSpec.parse({ patience })), EarlyStopSpec, z.literal(false)]).optional(),
    reduceLrOnPlateau: z.union([z.number().int().min(0).transform((patience) => ReduceLrSpec.parse({ patience })), ReduceLrSpec, z.literal(false)]).optional(),
    /**
     * Keras CategoricalCrossentropy(label_smoothing): the targets become y * (1 - s) + s / k, in
     * the training loss and in val_loss as Keras computes both. 0 = off.
     */
    labelSmoothing: z.number().min(0, 'labelSmoothing is a fraction, 0..1 (0.1 is usual).').max(1, 'labelSmoothing is a fraction, 0..1 (0.1 is usual).').default(0),
    /** 'auto' = balanced weights (n / (k * count_c)) as sklearn compute_class_weight('balanced'). */
    classWeights: z.enum(['auto', 'none']).default('none'),
    /** Which quantity picks checkpoints/best when early stopping is off. */
    checkpointMonitor: MonitorName.default('val_loss'),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
    /** A Keras .h5 / TF.js model.json with the base's weights (else the built-in / cached weights). */
    baseWeights: z.string().min(1).optional(),
    /** Continue this run from its last epoch checkpoint. */
    resumeRunId: z.string().min(1).optional(),
    /** Fine-tune: start from this run's best weights instead of the latest transfer run. */
    fromRunId: z.string().min(1).optional(),
    /** Compute frozen-base features once and train the head on the cache (transfer, no augmentation). */
    featureCache: z.boolean().default(true),
    /**
     * Transfer with augmentation and fine-tuning: run the base's frozen bottom forward-only
     * (onnxruntime when it matches TF.js) and train only the layers above it. Same function and
     * weights as the full model; false runs the whole model under the gradient tape.
     */
    frozenSplit: z.boolean().default(true),
    /**
     * Training threads on the wasm backend: each batch is split across this many worker threads
     * (data parallelism); absent = every core. Native backends use every core themselves: 1.
     * A run stores the number it used.
     */
    threads: z.number().int().min(1).max(256).optional(),
  })
  .strict()

export const TrainOptions = z.preprocess((raw) => {
  if (raw == null) return {}
  if (typeof raw !== 'object' || Array.isArray(raw)) return raw
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (v !== undefined) out[k] = v
  // `epochs: 'auto'` or no epochs at all: choose them from the data (one-click default).
  if (out.epochs === 'auto') {
    delete out.epochs
    out.autoEpochs = true
  } else if (out.autoEpochs === undefined) out.autoEpochs = out.epochs === undefined
  return out
}, TrainOptionsObject)
/** What callers (CLI, UI) pass. */
export type TrainOptionsInput = z.input<typeof TrainOptionsObject>
/** What the engine uses (defaults filled, augment parsed). */
export type TrainOptions = z.output<typeof TrainOptionsObject>

/** Learning rate / optimizer a recipe uses when the options do not name one (Keras guides). */
export function resolvedOptimizer(o: TrainOptions): { optimizer: OptimizerName; learningRate: number } {
  if (o.recipe === 'finetune') return { optimizer: o.optimizer ?? 'rmsprop', learningRate: o.learningRate ?? o.fineTuneLearningRate }
  return { optimizer: o.optimizer ?? 'adam', learningRate: o.learningRate ?? 1e-3 }
}

export interface EpochMetrics {
  epoch: number
  loss: number
  accuracy: number
  /** null when the project has no validation split. */
  valLoss: number | null
  valAccuracy: number | null
  lr: number
  seconds: number
  imagesPerSecond: number
}

export interface TrainResult {
  runId: string
  backend: string
  recipe: Recipe
  epochs: EpochMetrics[]
  best: { epoch: number; valAccuracy: number | null; monitor: MonitorName; value: number | null }
  stoppedEarly: boolean
  /** The user pressed stop (the run can be resumed). */
  stopped: boolean
  /**
   * The best epoch is the last one of a run that finished all its planned epochs (not stopped,
   * not stopped early): the model was still improving, so training longer may help
   * (`train --resume RUN --epochs N` continues it).
   */
  stillImproving?: boolean
  /** Plain-words advice about the base's weights (the offline ones are partial), or null. */
  weightsNote?: string | null
}

export type TrainEvent =
  | { type: 'start'; runId: string; backend: string; reason: string; recipe: Recipe; epochs: number; resumedFromEpoch: number; weightsNote?: string | null; baseCut?: string | null; threads?: number }
  | { type: 'batch'; epoch: number; batch: number; batches: number; loss: number; accuracy: number; imagesPerSecond: number; etaSeconds: number }
  | ({ type: 'epoch' } & EpochMetrics)
  | { type: 'log'; message: string }
  | { type: 'done'; result: TrainResult }
  | { type: 'error'; error: SerializedError }

export type RunStatus = 'running' | 'completed' | 'stopped' | 'failed' | 'interrupted'

/** One run as listed in the UI / `runs` command. */
export interface RunInfo {
  runId: string
  recipe: Recipe
  base: BaseName | null
  model: string | null
  createdAt: string
  status: RunStatus
  epochsPlanned: number
  epochsDone: number
  best: { epoch: number; valAccuracy: number | null } | null
  backend: string | null
  hasBest: boolean
  hasLast: boolean
  labels: string[]
  /** Transfer runs: where the base was cut ('full' = the whole base); null for other recipes. */
  baseCut?: string | null
  /** The run completed with its best epoch last: training longer may help (TrainResult.stillImproving). */
  stillImproving?: boolean
  /** Plain-words advice about the base's weights (TrainResult.weightsNote), or null. */
  weightsNote?: string | null
  /** Where the run was trained when not in the app: a torchrun job brought back by `job import`. */
  origin?: RunOriginInfo | null
  /** Training threads the run used (data-parallel on wasm); absent for runs from before threads. */
  threads?: number
}

/** A run trained outside the app (services/cluster): by torchrun, on how many workers and what device. */
export interface RunOriginInfo {
  kind: 'torchrun'
  jobId: string
  worldSize: number
  nodes: number
  device: string
  deviceName: string
  importedAt: string
}
