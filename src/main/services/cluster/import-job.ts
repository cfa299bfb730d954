/**
 * `job import`: brings a finished torchrun job back as a run of the project. The job's best
 * weights (Keras names, PyTorch layout) are converted into the app's model, which is then run by
 * the app on the validation split and compared with the probabilities PyTorch saved: the run is
 * created only when they agree (max abs difference <= 1e-4, the same predicted label for every
 * image). A job made from another project or dataset, with other classes, or not finished is
 * refused with what to do.
 */
import * as tf from '@tensorflow/tfjs'
import { readFile, readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { AppError } from '../../../shared/errors'
import type { EpochMetrics, RunOriginInfo } from '../../../shared/training'
import { applyPreprocess } from '../../ml/models'
import { writeCheckpoint } from '../../ml/training/checkpoint'
import type { DataSource } from '../../ml/training/data'
import { projectDataSource } from '../training/project-data'
import { appendRunLog, checkpointsDir, createRunDir, newRunId, runsDir, writeMetrics, writeRunStatus, type RunConfig } from '../../ml/training/runs'
import { JOB_FORMAT, type JobFile } from './export-job'
import { fromTorch, weightKinds, type WeightsFile } from './layout'
import { parseNpy } from './npy'

export const PARITY_TOLERANCE = 1e-4

/** Where a run came from, stored in its config.json (`origin`). */
export interface RunOrigin extends RunOriginInfo {
  jobDir: string
  backend: string
  torch: string
  mixedPrecision: boolean
  finishedAt: string
}

export interface JobResultFile {
  state: 'complete'
  jobId: string
  worldSize: number
  nodes: number
  device: string
  deviceName: string
  backend: string
  mixedPrecision: boolean
  torch: string
  epochsDone: number
  stoppedEarly: boolean
  best: { epoch: number; valAccuracy: number | null; monitor: string; value: number | null }
  validationImages: number
  finishedAt: string
}

export interface ImportJobResult {
  runId: string
  workers: number
  nodes: number
  device: string
  epochs: EpochMetrics[]
  best: { epoch: number; valAccuracy: number | null }
  parity: { images: number; maxAbsDiff: number; labelAgreement: number; tolerance: number; passed: boolean }
}

async function readJson<T>(file: string, what: string, hint: string): Promise<T> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new AppError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_INPUT', `${what}: ${file} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}.`, hint)
  }
  try {
    return JSON.parse(text) as T
  } catch (e) {
    throw new AppError('INVALID_INPUT', `${what}: ${file} is not valid JSON (${(e as Error).message}).`, hint)
  }
}

async function readMetricsFile(file: string): Promise<EpochMetrics[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const out: EpochMetrics[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as EpochMetrics)
    } catch {
      // a torn last line of a killed job
    }
  }
  return out
}

/** The runs of the project already imported from this job (by job id). */
async function importedAs(projectDir: string, jobId: string): Promise<string | null> {
  for (const name of await readdir(runsDir(projectDir)).catch(() => [] as string[])) {
    try {
      const c = JSON.parse(await readFile(join(runsDir(projectDir), name, 'config.json'), 'utf8')) as { origin?: { jobId?: string } }
      if (c.origin?.jobId === jobId) return name
    } catch {
      // not a run
    }
  }
  return null
}

export async function importJob(projectDir: string, jobDirIn: string, o: { log?: (m: string) => void } = {}): Promise<ImportJobResult> {
  const log = o.log ?? (() => undefined)
  const jobDir = resolve(jobDirIn)
  const job = await readJob(jobDir)
  const data = await projectDataSource(projectDir)
  await checkSameProject(job, data)
  const outDir = join(jobDir, 'output')
  const metrics = await readMetricsFile(join(outDir, 'metrics.jsonl'))
  const result = await readResult(projectDir, jobDir, job, metrics.length)
  const model = await loadJobModel(jobDir)
  try {
    const parity = await checkParity(model, job, jobDir, data, log)
    return await writeRun(projectDir, jobDir, job, result, metrics, model, parity)
  } finally {
    model.dispose()
  }
}

/** The job folder's job.json, when it is a Classifier Studio job. */
async function readJob(jobDir: string): Promise<JobFile> {
  const st = await stat(jobDir).catch(() => null)
  if (!st?.isDirectory()) throw new AppError('NOT_FOUND', `No job folder at ${jobDir}.`, 'Give the folder that `classifier-studio job export` wrote (it holds job.json and train.py).')
  const job = await readJson<JobFile>(join(jobDir, 'job.json'), `${jobDir} is not a Classifier Studio job`, 'Give the folder that `classifier-studio job export` wrote (it holds job.json and train.py).')
  if (job?.app !== 'classifier-studio' || job.kind !== JOB_FORMAT || !Array.isArray(job.labels))
    throw new AppError('INVALID_INPUT', `${join(jobDir, 'job.json')} is not a Classifier Studio job file.`, 'Give the folder that `classifier-studio job export` wrote.')
  return job
}

/** Refuses a job made for other classes, another image size or another state of the project's images. */
async function checkSameProject(job: JobFile, data: DataSource): Promise<void> {
  if (data.classNames.join('\u0000') !== job.labels.join('\u0000'))
    throw new AppError('INVALID_INPUT', `The job was made for the classes [${job.labels.join(', ')}] but this project has [${data.classNames.join(', ')}], so its model cannot be a run of this project.`, `Import it into the project it was exported from (${job.project.dir}), or export a new job from this project.`)
  if (data.imageShape.join('x') !== job.imageShape.join('x'))
    throw new AppError('INVALID_INPUT', `The job was made for ${job.imageShape.join('x')} images but this project's images are ${data.imageShape.join('x')}.`, `Import it into the project it was exported from (${job.project.dir}), or export a new job from this project.`)
  const fp = await data.fingerprint()
  if (fp !== job.project.dataset)
    throw new AppError('INVALID_INPUT', `The job was made from another project or another state of this one's images (${job.project.dir}, dataset ${job.project.dataset}; this project's dataset is ${fp}): its validation split is not this project's.`, 'Import it into the project it was exported from, as it was then; or export a new job from this project and run that.')

}

/** The job's output/result.json, when the job finished and was not imported yet. */
async function readResult(projectDir: string, jobDir: string, job: JobFile, epochsDone: number): Promise<JobResultFile> {
  const outDir = join(jobDir, 'output')
  let result: JobResultFile
  try {
    result = JSON.parse(await readFile(join(outDir, 'result.json'), 'utf8')) as JobResultFile
  } catch {
    throw new AppError('INVALID_INPUT', `The job in ${jobDir} has not finished: ${join(outDir, 'result.json')} is missing (${epochsDone} of ${job.options.epochs} epochs done${epochsDone ? '' : ', or it never ran'}).`, `Run it to the end first (the same torchrun command continues after its last finished epoch; see ${join(jobDir, 'README.md')}), then import it.`)
  }
  if (result.state !== 'complete' || result.jobId !== job.jobId)
    throw new AppError('INVALID_INPUT', `${join(outDir, 'result.json')} does not belong to this job (job ${job.jobId}, result ${String(result.jobId)}) or is not complete.`, 'Run the job again from its own folder (train.py writes output/ next to it).')
  const already = await importedAs(projectDir, job.jobId)
  if (already) throw new AppError('CONFLICT', `This job was already imported as run ${already}.`, `Use that run (--run ${already}); to import it again, move the folder runs/${already} out of the project first.`)

  return result
}

/** The app's model (the job's model.json) with the job's best weights, converted from PyTorch's layout. */
async function loadJobModel(jobDir: string): Promise<tf.LayersModel> {
  const outDir = join(jobDir, 'output')
  const topo = await readJson<{ modelTopology: object }>(join(jobDir, 'model.json'), 'The job has no model', 'The job folder is incomplete: export it again.')
  const man = await readJson<WeightsFile>(join(outDir, 'best-weights.json'), 'The job has no trained weights', 'The job did not finish writing its output: run it again to the end.')
  const blobBuf = await readFile(join(outDir, 'best-weights.bin')).catch(() => {
    throw new AppError('INVALID_INPUT', `The job has no trained weights: ${join(outDir, 'best-weights.bin')} is missing.`, 'Run the job again to the end.')
  })
  const blob = new Float32Array(blobBuf.buffer.slice(blobBuf.byteOffset, blobBuf.byteOffset + blobBuf.byteLength))
  const model = await tf.models.modelFromJSON(topo.modelTopology as tf.io.ModelJSON['modelTopology'] as never)
  try {
    const kinds = weightKinds(model)
    const byName = new Map(man.weights.map((e) => [e.name, e]))
    const values: tf.Tensor[] = []
    for (const w of model.weights) {
      const e = byName.get(w.originalName)
      const shape = w.shape as number[]
      const n = shape.reduce((a, b) => a * b, 1)
      if (!e) throw new AppError('INVALID_INPUT', `The job's trained weights have no ${w.originalName}.`, 'The output does not belong to this job\'s model: run the job again from its own folder.')
      if (e.shape.reduce((a, b) => a * b, 1) !== n || e.offset + n > blob.length) throw new AppError('INVALID_INPUT', `The job's trained weight ${w.originalName} is ${e.shape.join('x')} where the model needs ${shape.join('x')} (or best-weights.bin is cut short).`, 'Run the job again to the end.')
      values.push(tf.tensor(fromTorch(blob.subarray(e.offset, e.offset + n), shape, kinds.get(w.originalName) ?? 'plain'), shape))
    }
    model.setWeights(values)
    tf.dispose(values)
    return model
  } catch (err) {
    model.dispose()
    throw err
  }
}

/**
 * Runs the model in the app on the validation split (the same images, in the job's order) and
 * compares with the probabilities PyTorch saved; refuses the job when they disagree.
 */
async function checkParity(model: tf.LayersModel, job: JobFile, jobDir: string, data: DataSource, log: (m: string) => void): Promise<ImportJobResult['parity']> {
  const outDir = join(jobDir, 'output')
  const k = job.labels.length
  const nVal = (await data.labels('validation')).length
  const probsBuf = await readFile(join(outDir, 'val-probs.bin')).catch(() => null)
  if (!nVal || !probsBuf) throw new AppError('INVALID_INPUT', nVal ? `The job saved no validation probabilities (${join(outDir, 'val-probs.bin')}).` : 'The project has no validation split, so the job\'s model cannot be checked against the app.', nVal ? 'Run the job again to the end.' : 'Give the project a validation split (re-import with --val 0.2), export a new job and run it.')
  const torchProbs = new Float32Array(probsBuf.buffer.slice(probsBuf.byteOffset, probsBuf.byteOffset + probsBuf.byteLength))
  if (torchProbs.length !== nVal * k) throw new AppError('INVALID_INPUT', `output/val-probs.bin holds ${torchProbs.length} values where ${nVal} images x ${k} classes need ${nVal * k}.`, 'Run the job again to the end.')
  if (job.splits.validation) await checkValidationIds(join(jobDir, job.splits.validation.ids), data)
  const { maxAbsDiff, agree } = await compareWithTorch(model, job, data, torchProbs)
  const parity = { images: nVal, maxAbsDiff, labelAgreement: agree / nVal, tolerance: PARITY_TOLERANCE, passed: maxAbsDiff <= PARITY_TOLERANCE && agree === nVal }
  log(`Parity on ${nVal} validation images: max abs difference ${maxAbsDiff.toExponential(2)}, label agreement ${((agree / nVal) * 100).toFixed(1)} %.`)
  if (!parity.passed)
    throw new AppError(
      'INVALID_INPUT',
      `The job's model does not predict in the app as it did in PyTorch: on ${nVal} validation images the probabilities differ by up to ${maxAbsDiff.toExponential(2)} (allowed ${PARITY_TOLERANCE}) and ${nVal - agree} image(s) get another label. Nothing was imported.`,
      'The job\'s output may come from another version of train.py or a modified model: export the job again from this project, run it unchanged and import it.',
    )
  return parity
}

/** Refuses a project whose validation images (by id, in order) are not the job's. */
async function checkValidationIds(idsFile: string, data: DataSource): Promise<void> {
  const ids = parseNpy(await readFile(idsFile))
  const jobIds = new Int32Array(ids.data.buffer.slice(ids.data.byteOffset, ids.data.byteOffset + ids.data.byteLength))
  let at = 0
  for await (const b of data.batches('validation', { batchSize: 256, shuffle: false, seed: 0 })) {
    for (let i = 0; i < b.ids.length; i++) if (b.ids[i] !== jobIds[at + i]) throw new AppError('INVALID_INPUT', 'The project\'s validation images are not the ones the job was made from.', 'Export a new job from this project and run it.')
    at += b.ids.length
  }
}

/** The app's validation probabilities against PyTorch's: the largest difference and how many images get the same label. */
async function compareWithTorch(model: tf.LayersModel, job: JobFile, data: DataSource, torchProbs: Float32Array): Promise<{ maxAbsDiff: number; agree: number }> {
  const k = job.labels.length
  const channels = (model.inputs[0].shape[3] ?? job.imageShape[2]) as 1 | 3
  let maxAbsDiff = 0
  let agree = 0
  let at = 0
  for await (const b of data.batches('validation', { batchSize: 64, shuffle: false, seed: 0 })) {
    const p = tf.tidy(() => model.predict(applyPreprocess(tf.tensor4d(b.x, b.shape, 'int32'), job.preprocess, channels)) as tf.Tensor)
    const ours = (await p.data()) as Float32Array
    p.dispose()
    for (let i = 0; i < b.labels.length; i++) {
      let a = 0
      let t = 0
      for (let c = 0; c < k; c++) {
        const x = ours[i * k + c]
        const y = torchProbs[(at + i) * k + c]
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x - y))
        if (x > ours[i * k + a]) a = c
        if (y > torchProbs[(at + i) * k + t]) t = c
      }
      if (a === t) agree++
    }
    at += b.labels.length
  }
  return { maxAbsDiff, agree }
}

/** Creates the run: its config (with the job as origin), metrics, best checkpoint, log and status. */
async function writeRun(projectDir: string, jobDir: string, job: JobFile, result: JobResultFile, metrics: EpochMetrics[], model: tf.LayersModel, parity: ImportJobResult['parity']): Promise<ImportJobResult> {
  const { images: nVal, maxAbsDiff } = parity
  const runId = newRunId(job.recipe)
  const origin: RunOrigin = {
    kind: 'torchrun',
    jobId: job.jobId,
    jobDir,
    worldSize: result.worldSize,
    nodes: result.nodes,
    device: result.device,
    deviceName: result.deviceName,
    backend: result.backend,
    torch: result.torch,
    mixedPrecision: result.mixedPrecision,
    finishedAt: result.finishedAt,
    importedAt: new Date().toISOString(),
  }
  const config: RunConfig = {
    runId,
    createdAt: job.createdAt,
    recipe: job.recipe,
    options: job.options,
    labels: job.labels,
    imageShape: job.imageShape,
    preprocess: job.preprocess,
    settings: job.settings,
    fromRunId: job.fromRunId,
    baseWeights: job.baseWeights,
    origin,
  }
  const backend = `torchrun (${result.worldSize} worker${result.worldSize === 1 ? '' : 's'}, ${result.device}${result.device === 'cuda' ? ` ${result.deviceName}` : ''})`
  await createRunDir(projectDir, config)
  await writeMetrics(projectDir, runId, metrics)
  await writeCheckpoint(checkpointsDir(projectDir, runId), 'best', { model, metadata: { runId, epoch: result.best.epoch, labels: job.labels, preprocess: job.preprocess, origin: 'torchrun' } })
  await appendRunLog(projectDir, runId, `backend: ${backend}; imported from the job ${jobDir} (job ${job.jobId}, torch ${result.torch}, ${result.backend}${result.mixedPrecision ? ', mixed precision' : ''}, finished ${result.finishedAt})`)
  await appendRunLog(projectDir, runId, `parity on ${nVal} validation images: max abs difference ${maxAbsDiff.toExponential(2)}, label agreement 100 %`)
  const best = { epoch: result.best.epoch, valAccuracy: result.best.valAccuracy }
  await writeRunStatus(projectDir, runId, { status: 'completed', backend, epochsDone: metrics.length, best, stoppedEarly: result.stoppedEarly })
  return { runId, workers: result.worldSize, nodes: result.nodes, device: result.device, epochs: metrics, best, parity }
}
