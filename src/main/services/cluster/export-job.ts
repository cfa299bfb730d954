/**
 * `job export`: hands a project to PyTorch distributed (torchrun). Writes a self-contained folder
 * that needs only python3 + torch + numpy: the splits as memory-mapped uint8 .npy shards with
 * their labels, the model's Keras topology and starting weights (PyTorch layout), job.json (recipe,
 * options, classes, preprocessing, the project's identity), train.py and a README with launch
 * lines for one machine, several nodes, Slurm and Kubeflow.
 *
 * The folder follows the app's ownership rule (services/ownership.ts): it is written beside its
 * destination as `.<name>.partial-<pid>-<hex>` carrying the export marker, then renamed into place;
 * it replaces only an empty folder or an earlier job/export the app made (with overwrite), never a
 * project, a folder inside one (other than <project>/exports/<name>) or a folder with other files.
 * A job that has run holds output/, which the app did not write, so it is never overwritten.
 */
import * as tf from '@tensorflow/tfjs'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AppError } from '../../../shared/errors'
import type { PreprocessSpec } from '../../../shared/models'
import { augmentEnabled, EarlyStopSpec, resolvedOptimizer, TrainOptions, type TrainOptionsInput } from '../../../shared/training'
import { buildCnn, buildTransferModel, presetSpec, RESCALE_01 } from '../../ml/models'
import { cutTransferModel } from '../../ml/models/transfer'
import { loadBaseWeights, preprocessForWeights } from '../../ml/training/base-weights'
import { balancedClassWeights } from '../../ml/training/callbacks'
import type { DataSource } from '../../ml/training/data'
import { projectDataSource } from '../training/project-data'
import { autoSchedule, findBase, fineTuneStartIndex, freezeBase, resolveBaseCut, unfreezeTop } from '../../ml/training/recipes'
import { withSeededMathRandom } from '../../ml/training/rng'
import { listRuns, loadRun, loadRunModel } from '../../ml/training/runs'
import { checkExportDestination, cleanExportLeftovers, EXPORT_MANIFEST, markLive, removeExportFolder, siblingName, type ExportManifest } from '../ownership'
import { toTorch, weightKinds, type WeightsFile } from './layout'
import { npyHeader, NpyWriter } from './npy'
import { jobReadme } from './readme'

export const JOB_FORMAT = 'torchrun-job'
export const JOB_VERSION = 1

export interface JobSplitInfo {
  count: number
  shards: { file: string; count: number }[]
  labels: string
  ids: string
}

/** job.json: what train.py runs and what `job import` checks. */
export interface JobFile {
  app: 'classifier-studio'
  kind: typeof JOB_FORMAT
  version: number
  jobId: string
  createdAt: string
  project: { dir: string; name: string | null; dataset: string }
  recipe: TrainOptions['recipe']
  options: TrainOptions
  optimizer: { name: string; learningRate: number }
  labels: string[]
  imageShape: [number, number, number]
  preprocess: PreprocessSpec
  settings: Record<string, unknown> | null
  baseWeights: string | null
  fromRunId: string | null
  trainableWeights: string[]
  expectedTrainable: number
  classWeights: number[] | null
  splits: { train: JobSplitInfo; validation: JobSplitInfo | null }
}

export interface ExportJobOptions {
  out: string
  overwrite?: boolean
  log?: (m: string) => void
  onProgress?: (p: { phase: string; done: number; total: number }) => void
  /** Images per shard (default: ~256 MB of pixels per shard). */
  shardImages?: number
}

export interface ExportJobResult {
  dir: string
  files: string[]
  command: string
  jobId: string
  recipe: string
  epochs: number
  images: { train: number; validation: number }
}

function defaultPreset(imageShape: [number, number, number]): string {
  return imageShape[2] === 1 ? 'fashion-mnist-cnn' : 'cats-dogs-cnn'
}

/** The source of train.py next to this module (copied into every job). */
async function trainPySource(): Promise<string> {
  return readFile(fileURLToPath(new URL('./train.py', import.meta.url)), 'utf8')
}

interface BuiltJobModel {
  model: tf.LayersModel
  preprocess: PreprocessSpec
  baseWeights: string | null
  fromRunId: string | null
  opts: TrainOptions
}

/** The model `train` would start from, with the same recipe logic (train.ts). */
async function buildJobModel(projectDir: string, optsIn: TrainOptions, imageShape: [number, number, number], labels: string[], log: (m: string) => void): Promise<BuiltJobModel> {
  let opts = optsIn
  const numClasses = labels.length
  if (opts.recipe === 'cnn') {
    const preset = opts.layers ? (opts.model ?? 'custom') : (opts.model ?? defaultPreset(imageShape))
    const spec = opts.layers ? { type: 'cnn' as const, layers: opts.layers } : presetSpec(preset)
    if (spec.type !== 'cnn') throw new AppError('INVALID_INPUT', `--model ${preset} is not a CNN preset.`)
    const model = withSeededMathRandom(opts.seed, () => buildCnn(spec.layers, { inputShape: imageShape, numClasses }))
    return { model, preprocess: RESCALE_01, baseWeights: null, fromRunId: null, opts: { ...opts, model: preset } }
  }
  if (opts.recipe === 'transfer') {
    let t = withSeededMathRandom(opts.seed, () => buildTransferModel(opts.base, { inputShape: imageShape, numClasses }))
    const baseWeights = await loadBaseWeights(t.base, opts.base, opts.baseWeights, log)
    const cut = resolveBaseCut(opts.baseCut, baseWeights, t.base)
    if (cut) {
      const full = t
      t = withSeededMathRandom(opts.seed, () => cutTransferModel(full, cut, numClasses))
      log(`Base cut at ${cut}, as training in the app would cut it with these weights.`)
    }
    opts = { ...opts, baseCut: cut ?? 'full' }
    freezeBase(t.base)
    t.head?.dispose()
    return { model: t.model, preprocess: preprocessForWeights(opts.base, baseWeights ?? ''), baseWeights, fromRunId: null, opts }
  }
  let fromRunId = opts.fromRunId ?? null
  if (!fromRunId) {
    const candidates = (await listRuns(projectDir)).filter((r) => (r.recipe === 'transfer' || r.recipe === 'finetune') && (r.hasBest || r.hasLast))
    if (!candidates.length) throw new AppError('NOT_FOUND', 'Fine-tuning continues from a transfer-learning run, and this project has none with saved weights.', 'Train the head first (classifier-studio train <project> --recipe transfer, or a job with --recipe transfer imported back), then export the fine-tuning job.')
    fromRunId = candidates[0].runId
  }
  const src = await loadRunModel(projectDir, fromRunId, 'best')
  const srcRun = await loadRun(projectDir, fromRunId)
  if (src.labels.join('\u0000') !== labels.join('\u0000')) {
    src.model.dispose()
    throw new AppError('INVALID_INPUT', `Run ${fromRunId} was trained on labels [${src.labels.join(', ')}] but the dataset now has [${labels.join(', ')}].`, 'Train a new transfer run on the current labels first.')
  }
  const base = findBase(src.model)
  if (!base) {
    src.model.dispose()
    throw new AppError('INVALID_INPUT', `Run ${fromRunId} has no pretrained base to fine-tune (recipe ${srcRun.config.recipe}).`, 'Fine-tune from a transfer-learning run (--from-run <run of --recipe transfer>).')
  }
  const unfrozen = unfreezeTop(base, fineTuneStartIndex(base, opts.fineTuneFrom))
  log(`Fine-tuning ${unfrozen.length} layers of ${base.name}, starting from run ${fromRunId}; BatchNormalization layers stay in inference mode.`)
  return { model: src.model, preprocess: src.preprocess, baseWeights: srcRun.config.baseWeights, fromRunId, opts: { ...opts, base: srcRun.config.options.base, fromRunId } }
}

export async function exportJob(projectDir: string, input: TrainOptionsInput, o: ExportJobOptions): Promise<ExportJobResult> {
  const log = o.log ?? (() => undefined)
  const dest = await checkExportDestination(o.out, !!o.overwrite)
  let opts = TrainOptions.parse(input)
  if (opts.resumeRunId)
    throw new AppError('INVALID_INPUT', 'A job does not resume an app run: it resumes itself from its own checkpoint when it is restarted.', 'Leave --resume out; to continue a stopped job, run the same torchrun command again.')
  const data = await projectDataSource(projectDir)
  const labels = data.classNames
  const imageShape = data.imageShape
  if (labels.length < 2) throw new AppError('INVALID_INPUT', `Training needs at least 2 classes; the dataset has ${labels.length}.`, 'Import images of at least two labels (one folder per label).')
  const trainLabels = await data.labels('train')
  const valLabels = await data.labels('validation')
  if (!trainLabels.length) throw new AppError('INVALID_INPUT', 'The training split is empty.', 'Import images into the training split first.')

  const built = await buildJobModel(projectDir, opts, imageShape, labels, log)
  opts = built.opts
  const model = built.model
  try {
    opts = chosenSchedule(opts, trainLabels.length, log)
    const { optimizer, learningRate } = resolvedOptimizer(opts)
    const jobId = randomBytes(8).toString('hex')
    const real = dest.real
    await mkdir(dirname(real), { recursive: true })
    const cleaned = await cleanExportLeftovers(real)
    for (const r of cleaned.removed) log(`Removed the leftover of an interrupted export: ${r}.`)
    const tmp = siblingName(real, 'partial', randomBytes(4).toString('hex'))
    const unmark = markLive(tmp)
    const files: string[] = []
    const manifest = (state: 'partial' | 'complete'): ExportManifest => ({ app: 'classifier-studio', kind: 'export', state, format: JOB_FORMAT, runId: null, createdAt: new Date().toISOString(), pid: process.pid, host: hostname(), files: [...files].sort() })
    await mkdir(tmp)
    try {
      await writeFile(join(tmp, EXPORT_MANIFEST), JSON.stringify(manifest('partial'), null, 2) + '\n')
      const put = async (name: string, content: string | Uint8Array) => {
        await writeFile(join(tmp, name), content)
        files.push(name)
      }
      const folder: JobFolder = { tmp, files, put }
      const [h, w, c] = imageShape
      const shardImages = o.shardImages ?? Math.max(1, Math.floor((256 * 2 ** 20) / (h * w * c)))
      const writeSplit = (split: 'train' | 'validation', n: number) => writeSplitData(folder, data, split, n, shardImages, o.onProgress)
      const splits = { train: await writeSplit('train', trainLabels.length), validation: valLabels.length ? await writeSplit('validation', valLabels.length) : null }
      await writeStartWeights(folder, model)
      const job = await jobFile(projectDir, { jobId, opts, optimizer: { name: optimizer, learningRate }, built, data, trainLabels, splits })
      await put('job.json', JSON.stringify(job, null, 2) + '\n')
      await put('classes.json', JSON.stringify(labels) + '\n')
      await put('preprocessing.json', JSON.stringify(built.preprocess) + '\n')
      await put('train.py', await trainPySource())
      await put('README.md', jobReadme({ dir: real, job, projectDir }))
      await writeFile(join(tmp, EXPORT_MANIFEST), JSON.stringify(manifest('complete'), null, 2) + '\n')
      if (dest.kind === 'export' && !(await removeExportFolder(real)))
        throw new AppError('CONFLICT', `Cannot replace ${o.out}: it changed while the job was being written.`, 'Choose a new or empty folder.')
      // An empty destination folder is replaced by the finished job (rename needs it gone).
      if (dest.kind === 'empty') await rmdir(real)
      await rename(tmp, real)
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
      throw err
    } finally {
      unmark()
    }
    return {
      dir: real,
      files: [...files].sort(),
      command: `torchrun --standalone --nproc_per_node=auto ${shellQuote(join(real, 'train.py'))}`,
      jobId,
      recipe: opts.recipe,
      epochs: opts.epochs,
      images: { train: trainLabels.length, validation: valLabels.length },
    }
  } finally {
    model.dispose()
  }
}

/** The epochs and early stopping an auto-scheduled transfer job gets from the size of its training split. */
function chosenSchedule(opts: TrainOptions, trainImages: number, log: (m: string) => void): TrainOptions {
  if (opts.autoEpochs && opts.recipe === 'transfer') {
    const sched = autoSchedule(trainImages, opts.batchSize)
    if (!augmentEnabled(opts.augment)) opts = { ...opts, epochs: sched.epochs }
    if (opts.earlyStop === undefined) opts = { ...opts, earlyStop: EarlyStopSpec.parse({ patience: sched.patience }) }
    log(`Schedule chosen from the data: ${opts.epochs} epochs, early stopping ${opts.earlyStop ? `with patience ${opts.earlyStop.patience}` : 'off'}.`)
  }
  return opts
}

/** The job's temporary folder and the files written into it (for its manifest). */
interface JobFolder {
  tmp: string
  files: string[]
  put: (name: string, content: string | Uint8Array) => Promise<void>
}

/** A split as uint8 .npy shards of `shardImages` images, with its labels and ids (the order `batches(split, {shuffle: false})` gives). */
async function writeSplitData(folder: JobFolder, data: DataSource, split: 'train' | 'validation', n: number, shardImages: number, onProgress: ExportJobOptions['onProgress']): Promise<JobSplitInfo> {
  const { tmp, files, put } = folder
  const [h, w, c] = data.imageShape
  const per = h * w * c
  const info: JobSplitInfo = { count: n, shards: [], labels: `labels-${split}.npy`, ids: `ids-${split}.npy` }
  const labelsOut = new Int32Array(n)
  const idsOut = new Int32Array(n)
  let at = 0
  let shard: NpyWriter | null = null
  let inShard = 0
  const openShard = async () => {
    const count = Math.min(shardImages, n - at)
    const file = `data-${split}-${String(info.shards.length).padStart(5, '0')}.npy`
    shard = await NpyWriter.create(join(tmp, file), '|u1', [count, h, w, c])
    info.shards.push({ file, count })
    files.push(file)
    inShard = 0
  }
  for await (const b of data.batches(split, { batchSize: 256, shuffle: false, seed: 0 })) {
    const m = b.labels.length
    for (let i = 0; i < m; ) {
      if (!shard || inShard === info.shards[info.shards.length - 1].count) {
        if (shard) await (shard as NpyWriter).close()
        await openShard()
      }
      const take = Math.min(m - i, info.shards[info.shards.length - 1].count - inShard)
      await shard!.write(b.x.subarray(i * per, (i + take) * per))
      labelsOut.set(b.labels.subarray(i, i + take), at)
      idsOut.set(b.ids.subarray(i, i + take), at)
      inShard += take
      at += take
      i += take
    }
    onProgress?.({ phase: `writing ${split} images`, done: at, total: n })
  }
  if (shard) await (shard as NpyWriter).close()
  if (at !== n) throw new AppError('INTERNAL', `The ${split} split gave ${at} images where its index lists ${n}.`, 'Re-open the project and export the job again.')
  await put(info.labels, Buffer.concat([npyHeader('<i4', [n]), Buffer.from(labelsOut.buffer)]))
  await put(info.ids, Buffer.concat([npyHeader('<i4', [n]), Buffer.from(idsOut.buffer)]))
  return info
}

/** The model as Keras topology (model.json) and its starting weights in PyTorch layout (weights-init.bin/.json). */
async function writeStartWeights({ put }: JobFolder, model: tf.LayersModel): Promise<void> {
  await put('model.json', JSON.stringify({ format: 'keras-topology', modelTopology: model.toJSON(null, false) }))
  const kinds = weightKinds(model)
  const entries: WeightsFile['weights'] = []
  const parts: Buffer[] = []
  let offset = 0
  for (const v of model.weights) {
    const arr = (await v.read().data()) as Float32Array
    const t = toTorch(arr, v.shape as number[], kinds.get(v.originalName) ?? 'plain')
    entries.push({ name: v.originalName, shape: t.shape, offset })
    parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    offset += t.data.length
  }
  await put('weights-init.bin', Buffer.concat(parts))
  await put('weights-init.json', JSON.stringify({ format: 'keras-names-torch-layout', weights: entries } satisfies WeightsFile))
}

/** job.json: what train.py needs (options, optimizer, labels, splits, trainable weights) and where the job came from. */
async function jobFile(projectDir: string, j: { jobId: string; opts: TrainOptions; optimizer: JobFile['optimizer']; built: BuiltJobModel; data: DataSource; trainLabels: Int32Array; splits: JobFile['splits'] }): Promise<JobFile> {
  const { jobId, opts, optimizer, built, data, trainLabels, splits } = j
  const { model } = built
  const labels = data.classNames
  const imageShape = data.imageShape
  const trainable = model.trainableWeights.map((x) => x.originalName)
  const expectedTrainable = model.trainableWeights.reduce((a, x) => a + x.shape.reduce((p: number, q) => p * (q ?? 1), 1), 0)
  const classWeights = opts.classWeights === 'auto' ? Array.from(balancedClassWeights(trainLabels, labels.length)) : null
  const projectJson = JSON.parse(await readFile(join(projectDir, 'project.json'), 'utf8').catch(() => '{}')) as { name?: string; settings?: Record<string, unknown> }
  return {
    app: 'classifier-studio',
    kind: JOB_FORMAT,
    version: JOB_VERSION,
    jobId,
    createdAt: new Date().toISOString(),
    project: { dir: projectDir, name: projectJson.name ?? null, dataset: await data.fingerprint() },
    recipe: opts.recipe,
    options: opts,
    optimizer,
    labels,
    imageShape,
    preprocess: built.preprocess,
    settings: projectJson.settings ?? null,
    baseWeights: built.baseWeights,
    fromRunId: built.fromRunId,
    trainableWeights: trainable,
    expectedTrainable,
    classWeights,
    splits,
  }
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}
