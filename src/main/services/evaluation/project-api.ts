import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, type ErrorCode } from '../../../shared/errors'
import { ProjectSettings, type Split } from '../../../shared/project'
import type { EvaluateOptions, EvaluationResult, Prediction, PredictOptions } from '../../../shared/evaluation'
import { readProject } from '../projects/store'
import { batches, decodeForModel, loadDatasetIndex, readItems, splitIds } from '../datasets'
import { checkpointDir } from '../../ml/training/checkpoint'
import { checkpointsDir, listRuns, loadRunModel as trainingLoadRunModel } from '../../ml/training/runs'
import { evaluateWith } from './evaluate-run'
import { predictWith, type PredictInput } from './predict'
import { explanationMap, saliencyMap, saliencyOverlayPng } from './saliency'
import type { Ctl, EvaluationDeps, RunModel } from './deps'
import { calibrationPath, readRunCalibration } from '../calibration/store'

/** Training's errors carry `code`/`hint` properties; make them AppErrors for every layer. */
function asAppError(err: unknown): unknown {
  if (err instanceof AppError || !(err instanceof Error)) return err
  const e = err as Error & { code?: string; hint?: string }
  if (e.code === 'NOT_FOUND') return new AppError('NOT_FOUND' as ErrorCode, e.message, e.hint ?? 'Train a model first (classifier-studio train <project>, or the Train view).')
  return err
}

/** The run's model with the image settings it was trained with (else the dataset's, else project.json's). */
export async function loadEvaluationRun(projectDir: string, runId?: string): Promise<RunModel> {
  let r
  try {
    r = await trainingLoadRunModel(projectDir, runId, 'best')
  } catch (err) {
    throw asAppError(err)
  }
  // the settings the run was trained with; else those the imported pixels were made with
  const parsed = ProjectSettings.safeParse(r.settings)
  let settings: ProjectSettings
  if (parsed.success) settings = parsed.data
  else {
    try {
      settings = (await loadDatasetIndex(projectDir))?.settings ?? (await readProject(projectDir)).settings
    } catch (err) {
      r.model.dispose()
      throw err
    }
  }
  const calibration = await readRunCalibration(projectDir, r.runId)
  return { model: r.model, labels: r.labels, preprocess: r.preprocess, settings, runId: r.runId, ...(calibration ? { temperature: calibration.temperature, unknownThresholds: calibration.unknownThresholds } : {}) }
}

async function defaultRunId(projectDir: string): Promise<string | null> {
  const runs = (await listRuns(projectDir)).filter((r) => r.hasBest || r.hasLast)
  return runs[0]?.runId ?? null
}

/** Run id + a hash of (checkpoint file times, split ids, labels) + split size, without loading the model. */
async function evaluationKey(projectDir: string, split: Split, runId?: string) {
  const id = runId ?? (await defaultRunId(projectDir))
  if (!id) return null
  const ck = checkpointsDir(projectDir, id)
  const dir = (await checkpointDir(ck, 'best')) ?? (await checkpointDir(ck, 'last'))
  if (!dir) return null
  const idx = await loadDatasetIndex(projectDir)
  if (!idx) return null
  const h = createHash('sha256')
  for (const f of ['model.json', 'weights.bin']) {
    const s = await stat(join(dir, f)).catch(() => null)
    h.update(`${dir}/${f}:${s?.mtimeMs ?? 0}:${s?.size ?? 0};`)
  }
  const ids = splitIds(idx, split)
  h.update(JSON.stringify(idx.classes))
  h.update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
  h.update(Int32Array.from(ids, (i) => idx.items[i].label))
  h.update(await readFile(calibrationPath(projectDir, id)).catch(() => 'uncalibrated'))
  return { runId: id, key: h.digest('hex'), size: ids.length }
}

async function sourcesOf(projectDir: string, ids: readonly number[]) {
  const idx = await loadDatasetIndex(projectDir)
  return ids.map((i) => idx?.items[i]?.src)
}

export const defaultDeps: EvaluationDeps = {
  loadRunModel: loadEvaluationRun,
  batches: (projectDir, split, o) => batches(projectDir, split, { batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed }),
  decodeForModel,
  evaluationKey,
  sourcesOf,
  readItem: async (projectDir, id) => (await readItems(projectDir, [id])).x,
}

/** Evaluates the latest (or given) run on the validation or test split. See evaluateWith. */
export function evaluate(projectDir: string, options: EvaluateOptions = {}, ctl: Ctl = {}): Promise<EvaluationResult> {
  return evaluateWith(defaultDeps, projectDir, options, ctl)
}

/** Predicts files, folders (recursive) and in-memory images. See predictWith. */
export function predict(projectDir: string, inputs: readonly PredictInput[], options: PredictOptions = {}, ctl: Ctl = {}): Promise<Prediction[]> {
  return predictWith(defaultDeps, projectDir, inputs, options, ctl)
}

export interface SaliencyResult {
  /** PNG: the image with the gradient-saliency heatmap blended over it. */
  png: Buffer
  classIndex: number
  label: string
  probability: number
}

/**
 * Gradient saliency for one dataset item (`{ id }`, the cached pixels the model saw) or a file
 * (`{ file }`, decoded with the project pipeline), for the predicted class or `classIndex`.
 */
export async function saliencyWith(
  deps: EvaluationDeps,
  projectDir: string,
  target: { id: number } | { file: string },
  opts: { runId?: string; classIndex?: number; size?: number } = {},
): Promise<SaliencyResult> {
  const run = await deps.loadRunModel(projectDir, opts.runId)
  try {
    let px: Uint8Array
    if ('id' in target) {
      if (!deps.readItem) throw new AppError('NOT_IMPLEMENTED', 'Saliency of dataset items needs the dataset reader.')
      px = await deps.readItem(projectDir, target.id)
    } else {
      try {
        px = await deps.decodeForModel(target.file, run.settings)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        throw new AppError('INVALID_INPUT', `Cannot compute saliency for ${target.file}: ${code === 'ENOENT' ? 'the file does not exist' : (err as Error).message}.`)
      }
    }
    const map = saliencyMap(run, px, opts.classIndex)
    const png = await saliencyOverlayPng(px, run.settings.channels, map, opts.size)
    return { png, classIndex: map.classIndex, label: map.label, probability: map.probability }
  } finally {
    run.model.dispose()
  }
}

export function saliency(projectDir: string, target: { id: number } | { file: string }, opts: { runId?: string; classIndex?: number; size?: number } = {}): Promise<SaliencyResult> {
  return saliencyWith(defaultDeps, projectDir, target, opts)
}

/** What evaluation.saliency explains: a dataset item, a file, or uploaded bytes. */
export type SaliencyTarget = { id: number } | { file: string } | { name: string; data: Uint8Array }

export interface SaliencyItem {
  key: string
  result?: SaliencyResult
  error?: string
}

function saliencyKey(t: SaliencyTarget): string {
  return 'id' in t ? `id:${t.id}` : 'file' in t ? t.file : t.name
}

/**
 * Saliency overlays for several images with the run's model loaded once (the gallery of a
 * confusion cell, the Predict results). A file that cannot be read or decoded is an item
 * with an `error`, as in predict; a bad run is an error of the whole call.
 */
export async function saliencyBatchWith(
  deps: EvaluationDeps,
  projectDir: string,
  targets: readonly SaliencyTarget[],
  opts: { runId?: string; size?: number } = {},
  ctl: Ctl = {},
): Promise<SaliencyItem[]> {
  if (targets.length === 0) return []
  const run = await deps.loadRunModel(projectDir, opts.runId)
  try {
    const out: SaliencyItem[] = []
    for (const [i, t] of targets.entries()) {
      if (ctl.signal?.aborted) throw new AppError('CANCELLED', 'Saliency cancelled.')
      const key = saliencyKey(t)
      let px: Uint8Array
      try {
        if ('id' in t) {
          if (!deps.readItem) throw new AppError('NOT_IMPLEMENTED', 'Saliency of dataset items needs the dataset reader.')
          px = await deps.readItem(projectDir, t.id)
        } else px = await deps.decodeForModel('file' in t ? t.file : t.data, run.settings)
      } catch (err) {
        if (err instanceof AppError && err.code === 'NOT_IMPLEMENTED') throw err
        const code = (err as NodeJS.ErrnoException).code
        out.push({ key, error: code === 'ENOENT' ? 'the file does not exist' : (err as Error).message })
        continue
      }
      const map = explanationMap(run, px)
      const png = await saliencyOverlayPng(px, run.settings.channels, map, opts.size)
      out.push({ key, result: { png, classIndex: map.classIndex, label: map.label, probability: map.probability } })
      ctl.onProgress?.({ phase: 'saliency', done: i + 1, total: targets.length })
    }
    return out
  } finally {
    run.model.dispose()
  }
}

export function saliencyBatch(projectDir: string, targets: readonly SaliencyTarget[], opts: { runId?: string; size?: number } = {}, ctl: Ctl = {}): Promise<SaliencyItem[]> {
  return saliencyBatchWith(defaultDeps, projectDir, targets, opts, ctl)
}
