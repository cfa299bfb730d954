import type * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { PreprocessSpec } from '../../../shared/models'
import type { TrainOptions } from '../../../shared/training'
import { buildCnn, buildTransferModel, presetSpec, RESCALE_01 } from '../models'
import { cutTransferModel } from '../models/transfer'
import { loadBaseWeights, preprocessForWeights } from './base-weights'
import { damagedCheckpoint, loadCheckpointModel } from './checkpoint'
import { findBase, fineTuneStartIndex, freezeBase, resolveBaseCut, unfreezeTop, weightsNoteFor } from './recipes'
import { withSeededMathRandom } from './rng'
import { listRuns, loadRun, loadRunModel, type RunConfig } from './runs'
import type { TrainDeps } from './train'

/** The model a recipe built, with what the run records about it. */
export interface Built {
  model: tf.LayersModel
  base: tf.LayersModel | null
  preprocess: PreprocessSpec
  baseWeights: string | null
  fromRunId: string | null
}

/** What building a run's model needs: the recipe's options, the data's shape and the run it resumes. */
export interface BuildInput {
  projectDir: string
  opts: TrainOptions
  deps: TrainDeps
  imageShape: [number, number, number]
  labels: string[]
  runId: string
  resumeConfig: RunConfig | null
  /** The resumed run's `last` checkpoint (null: none). */
  lastDir: string | null
  log: (m: string) => void
  /** Set as soon as it exists, so the caller disposes it whatever fails next: the transfer builder's separate head. */
  owned: { builderHead: tf.LayersModel | null }
}

/** The recipe's model; `opts` as the run records them (the preset, the base cut or the fine-tuned base filled in). */
export interface BuildResult {
  built: Built
  opts: TrainOptions
  /** Plain-words advice about the base's weights (transfer only). */
  weightsNote: string | null
}

function defaultPreset(imageShape: [number, number, number]): string {
  return imageShape[2] === 1 ? 'fashion-mnist-cnn' : 'cats-dogs-cnn'
}

/** Builds the model of the run's recipe (cnn, transfer or finetune), as tfjs's fit starts from a compiled model. */
export function buildModel(b: BuildInput): Promise<BuildResult> {
  if (b.opts.recipe === 'cnn') return Promise.resolve(buildCnnModel(b))
  if (b.opts.recipe === 'transfer') return buildTransfer(b)
  return buildFinetune(b)
}

function buildCnnModel({ opts, deps, imageShape, labels }: BuildInput): BuildResult {
  const numClasses = labels.length
  const preset = opts.layers ? (opts.model ?? 'custom') : (opts.model ?? defaultPreset(imageShape))
  const spec = opts.layers ? { type: 'cnn' as const, layers: opts.layers } : presetSpec(preset)
  if (spec.type !== 'cnn') throw new AppError('INVALID_INPUT', `--model ${preset} is not a CNN preset.`, 'Use fashion-mnist-cnn, sign-mnist-cnn or cats-dogs-cnn, or --recipe transfer for a pretrained base.')
  const model = withSeededMathRandom(opts.seed, () => (deps.buildCnn ? deps.buildCnn(imageShape, numClasses) : buildCnn(spec.layers, { inputShape: imageShape, numClasses })))
  return { built: { model, base: null, preprocess: RESCALE_01, baseWeights: null, fromRunId: null }, opts: { ...opts, model: preset }, weightsNote: null }
}

async function buildTransfer({ opts, deps, imageShape, labels, resumeConfig, lastDir, log, owned }: BuildInput): Promise<BuildResult> {
  const numClasses = labels.length
  const inputShape: [number, number, number] = [imageShape[0], imageShape[1], imageShape[2]]
  const make = deps.buildTransfer ?? ((b, o) => buildTransferModel(b, o))
  let t = withSeededMathRandom(opts.seed, () => make(opts.base, { inputShape, numClasses }))
  // A resume with a checkpoint takes every weight (the base's too) from it.
  const baseWeights = resumeConfig && lastDir ? resumeConfig.baseWeights : await (deps.loadBaseWeights ?? loadBaseWeights)(t.base, opts.base, opts.baseWeights, log)
  // Where the base is cut (recorded in the run, so a resume rebuilds the same model; runs
  // from before cuts existed have none: the whole base).
  const cut = resolveBaseCut(resumeConfig ? resumeConfig.options.baseCut : opts.baseCut, baseWeights, t.base)
  if (cut) {
    const full = t
    t = withSeededMathRandom(opts.seed, () => cutTransferModel(full, cut, numClasses))
    if (!resumeConfig) log(`Base cut at ${cut} (output ${t.base.outputs[0].shape.slice(1).join('x')}): with these weights the features of that layer measure best (bench/default-recipe.ts); the head reads them through global average pooling.`)
  }
  if (!resumeConfig) opts = { ...opts, baseCut: cut ?? 'full' }
  const weightsNote = weightsNoteFor(baseWeights, imageShape[0])
  owned.builderHead = t.head ?? null
  freezeBase(t.base)
  return { built: { model: t.model, base: t.base, preprocess: resumeConfig?.preprocess ?? preprocessForWeights(opts.base, baseWeights ?? ''), baseWeights, fromRunId: null }, opts, weightsNote }
}

/** Fine-tuning continues from a transfer run's best weights (or, resumed, from its own last checkpoint), its top layers unfrozen. */
async function buildFinetune({ projectDir, opts, labels, runId, resumeConfig, lastDir, log }: BuildInput): Promise<BuildResult> {
  let fromRunId = resumeConfig?.fromRunId ?? opts.fromRunId ?? null
  if (!fromRunId) {
    const candidates = (await listRuns(projectDir)).filter((r) => (r.recipe === 'transfer' || r.recipe === 'finetune') && (r.hasBest || r.hasLast) && r.runId !== runId)
    if (!candidates.length)
      throw new AppError('NOT_FOUND', 'Fine-tuning continues from a transfer-learning run, and this project has none with saved weights.', 'Train the head first: classifier-studio train <project> --recipe transfer.')
    fromRunId = candidates[0].runId
  }
  // A resume continues from its own last checkpoint (the whole model), so the run it started
  // from may since have been deleted.
  const ownLast = resumeConfig && lastDir
  const src = ownLast
    ? { model: await loadCheckpointModel(lastDir!).catch((e: Error) => Promise.reject(e instanceof AppError ? e : damagedCheckpoint(lastDir!, e.message))), labels: resumeConfig!.labels, preprocess: resumeConfig!.preprocess }
    : await loadRunModel(projectDir, fromRunId, 'best')
  const srcRun: { config: Pick<RunConfig, 'recipe' | 'options' | 'baseWeights'> } = ownLast ? { config: resumeConfig! } : await loadRun(projectDir, fromRunId)
  if (src.labels.join('\u0000') !== labels.join('\u0000')) {
    src.model.dispose()
    throw new AppError('INVALID_INPUT', `Run ${fromRunId} was trained on labels [${src.labels.join(', ')}] but the dataset now has [${labels.join(', ')}].`, 'Train a new transfer run on the current labels first.')
  }
  const base = findBase(src.model)
  if (!base) {
    src.model.dispose()
    throw new AppError('INVALID_INPUT', `Run ${fromRunId} has no pretrained base to fine-tune (recipe ${srcRun.config.recipe}).`, 'Fine-tune from a transfer-learning run (--from-run <run of --recipe transfer>), or train one first: classifier-studio train <project> --recipe transfer.')
  }
  if (!ownLast) opts = { ...opts, base: srcRun.config.options.base }
  const built: Built = { model: src.model, base, preprocess: src.preprocess, baseWeights: srcRun.config.baseWeights, fromRunId }
  let start: number
  try {
    start = fineTuneStartIndex(base, opts.fineTuneFrom)
  } catch (err) {
    src.model.dispose()
    throw err
  }
  const unfrozen = unfreezeTop(base, start)
  log(`Fine-tuning ${unfrozen.length} layers with weights of ${base.name} (from "${base.layers.filter((l) => l.getClassName() !== 'InputLayer')[start]?.name}" on) starting from run ${fromRunId}; BatchNormalization layers stay in inference mode.`)
  return { built, opts, weightsNote: null }
}
