import * as tf from '@tensorflow/tfjs'
import { appendFile, mkdir, readFile, readdir, rename, rm, rmdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { PreprocessSpec } from '../../../shared/models'
import type { EpochMetrics, Recipe, RunInfo, RunOriginInfo, RunStatus, TrainOptions } from '../../../shared/training'
import { AppError } from '../../../shared/errors'
import { writeFileAtomic } from '../../platform/fs-atomic'
import { checkpointDir, loadCheckpointModel } from './checkpoint'
import { isProcessAlive } from '../../platform/process-alive'

/**
 * Run folders: <P>/runs/<runId>/ with
 *   config.json     options, recipe, labels, image shape, preprocess, project settings
 *   status.json     running | completed | stopped | failed (+ pid, epochs done, best)
 *   labels.json, preprocess.json
 *   metrics.jsonl   one line per finished epoch
 *   log.txt         the run log (backend choice and reason first)
 *   checkpoints/best, checkpoints/last   TF.js layers format (last also has optimizer + state)
 */

export const RUNS_DIR = 'runs'

export interface RunConfig {
  runId: string
  createdAt: string
  recipe: Recipe
  options: TrainOptions
  labels: string[]
  imageShape: [number, number, number]
  preprocess: PreprocessSpec
  /** Project settings at training time (input size, resize mode, ...), for predict/export parity. */
  settings: Record<string, unknown> | null
  /** Finetune: the run whose weights it started from. */
  fromRunId: string | null
  /** Where the base's weights came from (for the feature-cache key and the log). */
  baseWeights: string | null
  /** A run trained outside the app and imported (`job import`): torchrun, workers, device. */
  origin?: RunOriginInfo
}

export interface RunStatusFile {
  status: RunStatus
  updatedAt: string
  pid: number
  backend: string | null
  epochsDone: number
  best: { epoch: number; valAccuracy: number | null } | null
  stoppedEarly: boolean
  /** The best epoch is the last of a completed run: training longer may help (see TrainResult). */
  stillImproving?: boolean
  /** Plain-words advice about the base's weights (see TrainResult.weightsNote). */
  weightsNote?: string | null
  /** Training threads the run used (data-parallel on wasm; 1 elsewhere). */
  threads?: number
  error?: { name: string; message: string }
}

export const runsDir = (projectDir: string) => join(projectDir, RUNS_DIR)
export const runDir = (projectDir: string, runId: string) => join(projectDir, RUNS_DIR, runId)
export const checkpointsDir = (projectDir: string, runId: string) => join(runDir(projectDir, runId), 'checkpoints')

export function newRunId(recipe: Recipe, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0')
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`
  return `${stamp}-${recipe}-${randomBytes(2).toString('hex')}`
}

function assertRunId(runId: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/.test(runId)) throw new AppError('INVALID_INPUT', `"${runId}" is not a run id (expected something like 20250101-120000-transfer-ab12).`, 'Run ids are the names of the folders in the project\'s runs/ folder (the Train view lists them too).')
}

export async function createRunDir(projectDir: string, config: RunConfig): Promise<string> {
  const dir = runDir(projectDir, config.runId)
  await mkdir(join(dir, 'checkpoints'), { recursive: true })
  await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n')
  await writeFileAtomic(join(dir, 'labels.json'), JSON.stringify(config.labels) + '\n')
  await writeFileAtomic(join(dir, 'preprocess.json'), JSON.stringify(config.preprocess) + '\n')
  return dir
}

export async function writeRunStatus(projectDir: string, runId: string, s: Omit<RunStatusFile, 'updatedAt' | 'pid'>): Promise<void> {
  const full: RunStatusFile = { ...s, updatedAt: new Date().toISOString(), pid: process.pid }
  await writeFileAtomic(join(runDir(projectDir, runId), 'status.json'), JSON.stringify(full, null, 2) + '\n')
}

export async function appendRunLog(projectDir: string, runId: string, line: string): Promise<void> {
  await appendFile(join(runDir(projectDir, runId), 'log.txt'), `${new Date().toISOString()} ${line}\n`)
}

/** Rewrites metrics.jsonl from a history (used on resume so the file matches the checkpoint). */
export async function writeMetrics(projectDir: string, runId: string, history: EpochMetrics[]): Promise<void> {
  await writeFileAtomic(join(runDir(projectDir, runId), 'metrics.jsonl'), history.map((m) => JSON.stringify(m) + '\n').join(''))
}

export async function appendMetrics(projectDir: string, runId: string, m: EpochMetrics): Promise<void> {
  await appendFile(join(runDir(projectDir, runId), 'metrics.jsonl'), JSON.stringify(m) + '\n')
}

export async function readMetrics(projectDir: string, runId: string): Promise<EpochMetrics[]> {
  let text = ''
  try {
    text = await readFile(join(runDir(projectDir, runId), 'metrics.jsonl'), 'utf8')
  } catch {
    return []
  }
  const out: EpochMetrics[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as EpochMetrics)
    } catch {
      // A torn last line after a crash: ignore it.
    }
  }
  return out
}

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    return null
  }
}


/** Run folders of a project (names only; nothing is validated). */
async function runNames(projectDir: string): Promise<string[]> {
  const names = await readdir(runsDir(projectDir)).catch(() => [] as string[])
  return names.filter((n) => !n.startsWith('.')).sort().reverse()
}

/**
 * A run's config.json. A run that does not exist is NOT_FOUND with the runs there are; a run
 * whose folder exists but whose config.json is missing or damaged is PROJECT_DAMAGED naming the
 * file: it is written once when the run starts and cannot be rebuilt, but the run's checkpoints
 * and metrics are still there.
 */
async function readRunConfig(projectDir: string, runId: string): Promise<RunConfig> {
  const dir = runDir(projectDir, runId)
  const file = join(dir, 'config.json')
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const isDir = await stat(dir).then((s) => s.isDirectory(), () => false)
    if (!isDir) {
      const others = await runNames(projectDir)
      throw new AppError(
        'NOT_FOUND',
        `No run "${runId}" in ${runsDir(projectDir)}.`,
        others.length ? `Runs in this project (newest first): ${others.slice(0, 8).join(', ')}${others.length > 8 ? ', …' : ''}. Give one of them, or leave the run out to use the latest.` : 'This project has no runs yet: train one first (classifier-studio train <project>, or the Train view).',
      )
    }
    if (code !== 'ENOENT') throw err
    throw new AppError('PROJECT_DAMAGED', `Run "${runId}" exists but its ${file} is missing, so the run cannot be used (it was interrupted before it started, or the file was deleted).`, `Use another run (--run ID), or move the folder ${dir} out of runs/ to hide it.`)
  }
  let config: RunConfig
  try {
    config = JSON.parse(text) as RunConfig
  } catch (err) {
    throw new AppError(
      'PROJECT_DAMAGED',
      `Run "${runId}" exists but its ${file} is damaged: ${(err as Error).message}.`,
      `It is written once when the run starts and cannot be rebuilt: restore it from a backup, or use another run (--run ID) and move the folder ${dir} out of runs/ to hide this one. Its checkpoints are untouched.`,
    )
  }
  if (!config || typeof config !== 'object' || !Array.isArray(config.labels) || !config.options || !config.recipe)
    throw new AppError('PROJECT_DAMAGED', `Run "${runId}" exists but its ${file} does not hold a run configuration (recipe, options and labels are missing).`, `Restore it from a backup, or use another run (--run ID) and move the folder ${dir} out of runs/ to hide this one.`)
  return config
}

export interface LoadedRun {
  config: RunConfig
  status: RunStatusFile | null
  metrics: EpochMetrics[]
  info: RunInfo
}

export async function loadRun(projectDir: string, runId: string): Promise<LoadedRun> {
  assertRunId(runId)
  const dir = runDir(projectDir, runId)
  const config = await readRunConfig(projectDir, runId)
  const status = await readJson<RunStatusFile>(join(dir, 'status.json'))
  const metrics = await readMetrics(projectDir, runId)
  const ck = join(dir, 'checkpoints')
  const hasBest = (await checkpointDir(ck, 'best')) != null
  const hasLast = (await checkpointDir(ck, 'last')) != null
  let st: RunStatus = status?.status ?? 'interrupted'
  if (st === 'running' && status && !(status.pid === process.pid) && !isProcessAlive(status.pid)) st = 'interrupted'
  let best: RunInfo['best'] = status?.best ?? null
  if (!best && metrics.length) {
    const withVal = metrics.filter((m) => m.valAccuracy != null)
    if (withVal.length) {
      const b = withVal.reduce((a, m) => ((m.valAccuracy ?? -1) > (a.valAccuracy ?? -1) ? m : a))
      best = { epoch: b.epoch, valAccuracy: b.valAccuracy }
    }
  }
  return {
    config,
    status,
    metrics,
    info: {
      runId,
      recipe: config.recipe,
      base: config.recipe === 'cnn' ? null : config.options.base,
      model: config.options.model ?? null,
      createdAt: config.createdAt,
      status: st,
      epochsPlanned: config.options.epochs,
      epochsDone: metrics.length,
      best,
      backend: status?.backend ?? null,
      hasBest,
      hasLast,
      labels: config.labels,
      baseCut: config.recipe === 'transfer' ? (config.options.baseCut ?? 'full') : null,
      stillImproving: status?.stillImproving ?? false,
      weightsNote: status?.weightsNote ?? null,
      origin: config.origin ?? null,
      ...(status?.threads ? { threads: status.threads } : {}),
    },
  }
}

/** All runs of a project, newest first. */
export async function listRuns(projectDir: string): Promise<RunInfo[]> {
  let entries: string[] = []
  try {
    entries = await readdir(runsDir(projectDir))
  } catch {
    return []
  }
  const out: RunInfo[] = []
  for (const e of entries) {
    if (e.startsWith('.')) continue
    try {
      if (!(await stat(join(runsDir(projectDir), e))).isDirectory()) continue
      out.push((await loadRun(projectDir, e)).info)
    } catch {
      // not a run folder
    }
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : b.runId.localeCompare(a.runId)))
}

export interface RunModel {
  model: tf.LayersModel
  labels: string[]
  preprocess: PreprocessSpec
  settings: Record<string, unknown> | null
  imageShape: [number, number, number]
  runId: string
  which: 'best' | 'last'
}

/**
 * The trained model of a run (default: the latest run that has one), with everything needed to
 * use it exactly as in training: labels, preprocess spec and the project settings.
 * `which: 'best'` falls back to 'last' when a run has no best checkpoint.
 */
export async function loadRunModel(projectDir: string, runId?: string, which: 'best' | 'last' = 'best'): Promise<RunModel> {
  let id = runId
  if (!id) {
    const runs = (await listRuns(projectDir)).filter((r) => r.hasBest || r.hasLast)
    if (!runs.length)
      throw new AppError('NOT_FOUND', `The project at ${projectDir} has no trained model yet.`, 'Train one first: classifier-studio train <project>.')
    id = runs[0].runId
  }
  const run = await loadRun(projectDir, id)
  const ck = checkpointsDir(projectDir, id)
  let used: 'best' | 'last' = which
  let dir = await checkpointDir(ck, which)
  if (!dir && which === 'best') {
    dir = await checkpointDir(ck, 'last')
    used = 'last'
  }
  if (!dir) throw new AppError('NOT_FOUND', `Run ${id} has no saved model (it stopped before finishing an epoch).`, 'Resume it or pick another run with --run.')
  const model = await loadCheckpointModel(dir)
  return { model, labels: run.config.labels, preprocess: run.config.preprocess, settings: run.config.settings, imageShape: run.config.imageShape, runId: id, which: used }
}

// ---- leftovers of interrupted trainings ---------------------------------------------------------
// Only names the app itself gives are matched: a file a person put into the project stays.

/** writeFileAtomic's temporary files of the files a training writes into its run folder. */
const RUN_TEMP_RE = /^\.(config\.json|labels\.json|preprocess\.json|status\.json|metrics\.jsonl)\.[0-9a-f]{12}\.tmp$/
/** writeCheckpoint's temporary and replaced checkpoint folders. */
const CHECKPOINT_TEMP_RE = /^\.(best|last)\.tmp-[0-9a-f]{8}$/
const CHECKPOINT_OLD_RE = /^\.(best|last)\.old-[0-9a-f]{8}$/
/** The training lock's temporary file (services/training), named after the pid that wrote it. */
const LOCK_TEMP_RE = /^\.training\.lock\.(\d+)\.[0-9a-f]{8}$/
/** An interrupted feature-cache build (feature-cache.ts). */
const FEATURE_TEMP_RE = /^\.features-[0-9a-f]{16}\.tmp-[0-9a-f]{8}$/
/** newRunId's shape. */
const RUN_ID_RE = /^\d{8}-\d{6}-[a-z]+-[0-9a-f]{4}$/

const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false)

/**
 * Cleans what trainings killed mid-way (kill -9, a crash, power loss) left in the project, at the
 * start of the next training (its lock held, so no training is writing): temporary files and
 * checkpoint folders, a checkpoint swap cut in half (the complete one is kept), run folders that
 * died before their config.json, and feature caches that were being computed. A run whose
 * process is gone but whose status still says "running" is marked interrupted (resumable).
 * Returns what it removed or repaired, for the run log.
 */
export async function removeRunLeftovers(projectDir: string): Promise<string[]> {
  const done: string[] = []
  const root = runsDir(projectDir)
  const remove = async (p: string) => {
    await rm(p, { recursive: true, force: true })
    done.push(`removed ${p}`)
  }
  for (const e of await readdir(root).catch(() => [] as string[])) {
    const lockTmp = LOCK_TEMP_RE.exec(e)
    if (lockTmp) {
      const pid = Number(lockTmp[1])
      if (pid !== process.pid && !isProcessAlive(pid)) await remove(join(root, e))
      continue
    }
    if (!RUN_ID_RE.test(e)) continue
    const dir = join(root, e)
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) continue
    for (const f of await readdir(dir).catch(() => [] as string[])) if (RUN_TEMP_RE.test(f)) await remove(join(dir, f))
    const ck = join(dir, 'checkpoints')
    const entries = await readdir(ck).catch(() => [] as string[])
    for (const f of entries) if (CHECKPOINT_TEMP_RE.test(f)) await remove(join(ck, f))
    for (const f of entries) {
      const m = CHECKPOINT_OLD_RE.exec(f)
      if (!m) continue
      const final = join(ck, m[1])
      if (await isFile(join(final, 'model.json'))) await remove(join(ck, f))
      else if (await isFile(join(ck, f, 'model.json'))) {
        // Killed between moving the old checkpoint aside and moving the new one in: keep the old.
        await rm(final, { recursive: true, force: true })
        await rename(join(ck, f), final)
        done.push(`restored ${final}`)
      } else await remove(join(ck, f))
    }
    if (!(await isFile(join(dir, 'config.json')))) {
      // Killed before its config was written: nothing of it can be shown or resumed. Only empty
      // folders are removed (rmdir), so anything else in it stays.
      const gone = await rmdir(ck).then(() => rmdir(dir)).then(() => true, () => false)
      if (gone) done.push(`removed ${dir}`)
      continue
    }
    let status: RunStatusFile | null = null
    try {
      status = JSON.parse(await readFile(join(dir, 'status.json'), 'utf8')) as RunStatusFile
    } catch {
      status = null
    }
    if (status?.status === 'running' && status.pid !== process.pid && !isProcessAlive(status.pid)) {
      const { updatedAt: _u, pid: _p, ...rest } = status
      await writeRunStatus(projectDir, e, { ...rest, status: 'interrupted' })
      done.push(`marked run ${e} interrupted (its process ${status.pid} is gone)`)
    }
  }
  const cache = join(projectDir, 'cache')
  for (const e of await readdir(cache).catch(() => [] as string[])) if (FEATURE_TEMP_RE.test(e)) await remove(join(cache, e))
  return done
}
