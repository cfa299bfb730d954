/**
 * exportModel(projectDir, {format, out, runId?, overwrite?}, ctl?) -> {format, out, files, parity}
 *
 * Writes the run's model as a TF.js layers model, a Keras .h5 or an ONNX graph, with labels.json,
 * preprocessing.json, README.md (model card), example-node.mjs and example.py, then runs the parity
 * check (parity.ts: golden project images through the app's model and through the exported artifact in its own
 * runtime) and stores parity.json. Everything is written into a hidden temporary sibling folder
 * (`.<name>.partial-<pid>-<hex>`, marked with the app's manifest first) that is renamed into place only at
 * the end: a failure (read-only place, full disk, cancel, parity crash) leaves no half-written export.
 *
 * The destination follows the app's one rule (../ownership.ts): every export folder carries the manifest
 * `.classifier-studio-export.json` (files it wrote, format, run, date); `overwrite` replaces only an empty
 * folder or an earlier export, never a project, a folder inside one (but <project>/exports/<name>) or a
 * folder with other files, whatever path leads there. Leftovers of interrupted exports to the same folder
 * are cleaned at the start; exports to one folder in one process run one after the other.
 */
import type * as tf from '@tensorflow/tfjs'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { mkdir, readdir, rename, rm, rmdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { ExportOptions, type ExportFormat, type ExportResult, type ModelPreprocess } from '../../../shared/export'
import { ProjectSettings } from '../../../shared/project'
import type { Progress } from '../../../shared/contract'
import { layersModelToOnnx, OnnxExportError } from '../../ml/export/onnx'
import { writeKerasH5 } from '../../ml/export/h5'
import { writeTfjsModel } from '../../ml/export/tfjs'
import { describePreprocessing } from '../../ml/export/preprocess'
import { buildReadme, exampleNode, examplePython } from '../../ml/export/modelcard'
import { loadRun, loadRunModel } from '../../ml/training/runs'
import { loadDatasetIndex, readItems } from '../datasets'
import { readCachedEvaluation } from '../evaluation/evaluate-run'
import { readProject } from '../projects/store'
import { pickGolden } from './golden'
import { checkParity, parityFile, type GoldenSet } from './parity'
import { foldTemperature } from '../../ml/export/temperature'
import { runTemperature } from '../calibration/store'
import { APP_ID, EXPORT_MANIFEST, checkExportDestination, classifyFolder, cleanExportLeftovers, markLive, pathError, realPathOf, removeExportFolder, siblingName, type ExportManifest } from '../ownership'
import { makeDirs } from '../../platform/make-dirs'


export interface ExportControl {
  onProgress?: (p: Progress) => void
  signal?: AbortSignal
}

/** The model to export and how the app uses it. */
export interface ExportRun {
  model: tf.LayersModel
  labels: string[]
  preprocess: ModelPreprocess
  settings: ProjectSettings
  runId?: string
  recipe?: string
  recipeDetails?: Record<string, unknown>
  metrics?: { name: string; value: number | string }[]
  /** Shown as the model card's title (default: the project's name, else the model's). */
  name?: string
  /** The caller keeps the model: do not dispose it after the export (default: disposed). */
  keepModel?: boolean
  /** The run's fitted temperature, folded into the exported model's last layer (default 1: none). */
  temperature?: number
}

/** File operations the export uses (tests inject failures such as a full disk). */
export interface ExportFs {
  mkdir(path: string): Promise<void>
  writeFile(path: string, data: string | Uint8Array): Promise<void>
  rename(from: string, to: string): Promise<void>
}

export interface ExportDeps {
  loadRun(projectDir: string, runId?: string): Promise<ExportRun>
  goldenSet(projectDir: string, max: number): Promise<GoldenSet | null>
  fs: ExportFs
}

const nodeFs: ExportFs = {
  mkdir: async (p) => {
    await mkdir(p)
  },
  writeFile: (p, d) => writeFile(p, d),
  rename: (a, b) => rename(a, b),
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

/** Node file errors -> messages that say what happened and how to fix it. */
function destinationError(err: unknown, out: string, action: string): unknown {
  if (err instanceof AppError) return err
  const code = codeOf(err)
  const detail = err instanceof Error ? err.message : String(err)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
    return new AppError('FORBIDDEN', `Cannot export to ${out}: ${action} was refused (${code}: the folder is read-only or you lack permission). Nothing was written.`, 'Choose a folder you can write to, or change its permissions.')
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new AppError('DISK_FULL', `Cannot export to ${out}: the disk is full (${code} while ${action}). The partial export was removed.`, 'Free some space or choose another disk, then export again.')
  if (code === 'ENOTEMPTY' || code === 'EEXIST')
    return new AppError('INVALID_INPUT', `Cannot export to ${out}: something else (another export or program) wrote that folder at the same time (${code} while ${action}). Nothing was replaced.`, 'Wait for the other export to finish, then export again (tick “Replace an earlier export”, CLI: --overwrite, to replace an earlier export).')
  if (code === 'ENOTDIR')
    return new AppError('INVALID_INPUT', `Cannot export to ${out}: a file is in the way (${code} while ${action}).`, 'Choose a folder path, not a file.')
  if (code === 'EBUSY')
    return new AppError('FORBIDDEN', `Cannot export to ${out}: the folder is in use or is a mount point (EBUSY while ${action}). Nothing was replaced.`, 'Choose a new folder inside it or elsewhere, or close the program using it.')
  if (code === 'EXDEV')
    return new AppError('INVALID_INPUT', `Cannot export to ${out}: the folder and its parent are on different file systems (EXDEV while ${action}).`, 'Choose a new folder inside it, or a folder on one disk.')
  if (code === 'ENAMETOOLONG' || code === 'ELOOP' || code === 'ERR_INVALID_ARG_VALUE') return pathError(err, out, 'Cannot export to')
  if (code === 'ENOENT') return new AppError('NOT_FOUND', `Cannot export to ${out}: ${action} failed because a folder on the way does not exist (${detail}).`, 'Create the parent folder first or choose another place.')
  return err
}

function settingsFrom(v: unknown): ProjectSettings | null {
  const p = ProjectSettings.safeParse(v)
  return p.success ? p.data : null
}

/** The app's run loader: the run's model with its labels, preprocess, settings, recipe and metrics. */
export async function loadExportRun(projectDir: string, runId?: string): Promise<ExportRun> {
  let r
  try {
    r = await loadRunModel(projectDir, runId, 'best')
  } catch (err) {
    const e = err as Error & { code?: string; hint?: string }
    if (e.code === 'NOT_FOUND') throw new AppError('NOT_FOUND', e.message, e.hint ?? 'Train a model first, or pick a run with --run.')
    throw err
  }
  let settings = settingsFrom(r.settings)
  if (!settings) settings = (await loadDatasetIndex(projectDir))?.settings ?? (await readProject(projectDir)).settings
  const run = await loadRun(projectDir, r.runId).catch(() => null)
  const metrics: { name: string; value: number | string }[] = []
  if (run) {
    const best = run.info.best
    if (best?.valAccuracy != null) metrics.push({ name: `validation accuracy (best epoch ${best.epoch})`, value: best.valAccuracy })
    const m = run.metrics.find((x) => x.epoch === best?.epoch) ?? run.metrics[run.metrics.length - 1]
    if (m) {
      metrics.push({ name: `training accuracy (epoch ${m.epoch})`, value: m.accuracy })
      if (m.valLoss != null) metrics.push({ name: `validation loss (epoch ${m.epoch})`, value: m.valLoss })
    }
  }
  // The last evaluations of this run (Evaluate view / `evaluate` command), when there are any.
  for (const split of ['test', 'validation'] as const) {
    const ev = await readCachedEvaluation(projectDir, r.runId, split).catch(() => null)
    if (!ev) continue
    metrics.push({ name: `${split} accuracy (${ev.items?.length ?? '?'} images, evaluated ${ev.createdAt.slice(0, 10)})`, value: ev.accuracy })
    metrics.push({ name: `${split} macro-average F1`, value: ev.report.macroAvg.f1 })
  }
  const o = run?.config.options as Record<string, unknown> | undefined
  const projectName = await readProject(projectDir).then((p) => p.name).catch(() => undefined)
  return {
    name: projectName,
    model: r.model,
    labels: r.labels,
    preprocess: r.preprocess,
    settings,
    runId: r.runId,
    recipe: run?.config.recipe,
    recipeDetails: o ? { base: o.base, model: o.model, epochs: run?.info.epochsDone, optimizer: o.optimizer, 'learning rate': o.learningRate, 'batch size': o.batchSize, augment: o.augment, checkpoint: r.which } : { checkpoint: r.which },
    metrics,
    temperature: await runTemperature(projectDir, r.runId),
  }
}

/** Golden set from the project's image cache (stratified; test split first). Null when nothing is imported. */
export async function projectGoldenSet(projectDir: string, max: number): Promise<GoldenSet | null> {
  const idx = await loadDatasetIndex(projectDir)
  if (!idx || !idx.items.length) return null
  const ids = pickGolden(idx.items, max)
  if (!ids.length) return null
  const b = await readItems(projectDir, ids)
  const split = idx.items[ids[0]].split
  return { ids: b.ids, labels: b.labels, x: b.x, shape: b.shape, source: `${ids.length} project images from the ${split} split, stratified over ${new Set(Array.from(b.labels)).size} classes` }
}

export const defaultExportDeps: ExportDeps = { loadRun: loadExportRun, goldenSet: projectGoldenSet, fs: nodeFs }

/** Exports to one destination (by real path) in this process, one after the other. */
const queues = new Map<string, Promise<unknown>>()
async function oneAtATime<T>(key: string, work: () => Promise<T>): Promise<T> {
  const run = (queues.get(key) ?? Promise.resolve()).catch(() => undefined).then(work)
  const tail = run.catch(() => undefined)
  queues.set(key, tail)
  try {
    return await run
  } finally {
    if (queues.get(key) === tail) queues.delete(key)
  }
}

function manifest(state: ExportManifest['state'], format: ExportFormat, runId: string | null, files: string[]): string {
  const m: ExportManifest = { app: APP_ID, kind: 'export', state, format, runId, createdAt: new Date().toISOString(), pid: process.pid, host: hostname(), files }
  return JSON.stringify(m, null, 2) + '\n'
}

const FILE_OF: Record<ExportFormat, string> = { tfjs: 'model.json', h5: 'model.h5', onnx: 'model.onnx' }

/** Exports a run's model. See the module comment. */
export async function exportModel(projectDir: string, optionsIn: ExportOptions, ctl: ExportControl = {}, deps: ExportDeps = defaultExportDeps): Promise<ExportResult> {
  const opts = parseOrThrow(ExportOptions, optionsIn, 'export options', 'Expected {format: "tfjs" | "h5" | "onnx", out: folder, runId?}.', 'BAD_REQUEST')
  const out = resolve(opts.out)
  const { real } = await realPathOf(out, 'Cannot export to')
  return oneAtATime(real, () => exportInto(projectDir, opts, out, ctl, deps))
}

/** The export in progress: its temporary folder, the files written there, and progress/cancel checks. */
interface ExportWork {
  tmp: string
  out: string
  written: string[]
  put(name: string, data: string | Uint8Array): Promise<void>
  progress(done: number, message: string): void
  checkCancel(): void
}

/** The export's cancel check and progress reports (6 steps). */
function exportControls(ctl: ExportControl): Pick<ExportWork, 'checkCancel' | 'progress'> {
  const { signal, onProgress } = ctl
  const total = 6
  return {
    checkCancel: () => {
      if (signal?.aborted) throw new AppError('CANCELLED', 'The export was cancelled; nothing was written.')
    },
    progress: (done, message) => onProgress?.({ phase: 'export', done, total, message }),
  }
}

/** Writes go through `put` into `tmp`, checking for cancel first and recording each file written. */
function exportWork(tmp: string, out: string, controls: Pick<ExportWork, 'checkCancel' | 'progress'>, deps: ExportDeps): ExportWork {
  const written: string[] = []
  const put = async (name: string, data: string | Uint8Array) => {
    controls.checkCancel()
    try {
      await deps.fs.writeFile(join(tmp, name), data)
    } catch (err) {
      throw destinationError(err, out, `writing ${name}`)
    }
    written.push(name)
  }
  return { tmp, out, written, put, ...controls }
}

/** Creates the hidden temporary folder with the 'partial' manifest in it first. */
async function makePartialFolder(w: ExportWork, real: string, format: ExportFormat, runId: string | null, deps: ExportDeps): Promise<void> {
  try {
    await makeDirs(dirname(real))
    await deps.fs.mkdir(w.tmp)
    // The marker first: a leftover of this folder (kill -9) is recognisably the app's, with its pid.
    await writeFile(join(w.tmp, EXPORT_MANIFEST), manifest('partial', format, runId, []))
  } catch (err) {
    throw destinationError(err, w.out, 'creating the export folder')
  }
}

/** Writes the model itself in `format`; returns the ONNX graph's ops for an ONNX export. */
async function writeModelArtifact(w: ExportWork, run: ExportRun, format: ExportFormat, prep: ReturnType<typeof describePreprocessing>, grayToRgb: boolean): Promise<string[] | undefined> {
  const { model, labels, preprocess } = run
  if (format === 'tfjs') {
    const files = await writeTfjsModel(model, w.tmp, async (p, d) => w.put(basename(p), d), { labels, preprocessing: prep })
    void files
    return undefined
  }
  if (format === 'h5') {
    w.checkCancel()
    try {
      await writeKerasH5(model, join(w.tmp, 'model.h5'))
    } catch (err) {
      throw destinationError(err, w.out, 'writing model.h5')
    }
    w.written.push('model.h5')
    return undefined
  }
  let ex
  try {
    ex = layersModelToOnnx(model, {
      preprocess,
      grayToRgb,
      metadata: { labels: JSON.stringify(labels), preprocessing: JSON.stringify(prep) },
      docString: `Image classifier exported by Classifier Studio. Input NHWC float32 0..255; output softmax over ${labels.length} classes.`,
    })
  } catch (err) {
    if (err instanceof OnnxExportError) throw new AppError('INVALID_INPUT', `This model cannot be exported to ONNX: ${err.message}`, 'Export it as TF.js or Keras .h5 instead.')
    throw err
  }
  await w.put('model.onnx', ex.bytes)
  return ex.ops
}

/** The manifest lists every file written, then the folder replaces only what the rule allows (an earlier export's files removed after). */
async function moveIntoPlace(w: ExportWork, real: string, opts: ExportOptions, runId: string | null, deps: ExportDeps): Promise<void> {
  const { tmp, out } = w
  const made = (await readdir(tmp)).filter((n) => n !== EXPORT_MANIFEST).sort()
  try {
    await writeFile(join(tmp, EXPORT_MANIFEST), manifest('complete', opts.format, runId, made))
  } catch (err) {
    throw destinationError(err, out, `writing ${EXPORT_MANIFEST}`)
  }
  const now = await classifyFolder(real)
  let old: string | null = null
  let unmarkOld: () => void = () => undefined
  try {
    if (now.kind === 'empty') await rmdir(real)
    else if (now.kind === 'export' && opts.overwrite) {
      old = siblingName(real, 'old', randomBytes(4).toString('hex'))
      unmarkOld = markLive(old)
      await deps.fs.rename(real, old)
    } else if (now.kind !== 'absent')
      throw new AppError('INVALID_INPUT', `Cannot export to ${out}: the folder was ${now.kind === 'export' ? 'filled by another export' : 'filled by something else'} during the export; it was left as it is.`, 'Choose a new or empty folder, or export again (tick “Replace an earlier export”, CLI: --overwrite, to replace an earlier export).')
    await deps.fs.rename(tmp, real)
  } catch (err) {
    if (old) await rename(old, real).catch(() => undefined)
    unmarkOld()
    throw destinationError(err, out, 'moving the export into place')
  }
  if (old) {
    // Deletes only the files the earlier export's manifest lists; anything added since stays.
    if (!(await removeExportFolder(old).catch(() => false))) console.warn(`[export] kept ${old}: it holds files Classifier Studio did not make.`)
    unmarkOld()
  }
}

/** Steps 2-6 into the temporary folder: model, labels and preprocessing, parity, model card and examples, then into place. */
async function writeExport(w: ExportWork, projectDir: string, opts: ExportOptions, run: ExportRun, real: string, temperature: number, signal: AbortSignal | undefined, deps: ExportDeps): Promise<ExportResult> {
  const { model, labels, preprocess, settings } = run
  const { put, progress } = w
  const modelChannels = Number(model.inputs[0].shape[3])
  const grayToRgb = settings.channels === 1 && modelChannels === 3
  const folded = opts.format === 'onnx'
  const prep = describePreprocessing({ settings, preprocess, modelChannels, folded, layout: 'NHWC', inputName: folded ? 'input' : model.inputs[0].name.replace(/:\d+$/, ''), outputName: folded ? 'probabilities' : model.outputs[0].name.replace(/:\d+$/, '') })

  // 2. The model itself.
  progress(1, `Writing the ${opts.format} model`)
  const onnxOps = await writeModelArtifact(w, run, opts.format, prep, grayToRgb)

  // 3. Labels and preprocessing.
  progress(2, 'Writing labels and preprocessing')
  await put('labels.json', JSON.stringify(labels, null, 2) + '\n')
  await put('preprocessing.json', JSON.stringify(prep, null, 2) + '\n')

  // 4. Parity: the app's model vs the exported artifact in its own runtime.
  progress(3, 'Checking the export predicts like the app')
  const images = opts.parityImages ?? 64
  const check = await checkParity({ model, preprocess, channels: settings.channels, format: opts.format, dir: w.tmp, golden: await deps.goldenSet(projectDir, images), images, signal })
  check.parity.temperature = temperature
  const { parity } = check
  await put('parity.json', parityFile(check, opts.format, run.runId ?? null))

  // 5. Model card and examples.
  progress(4, 'Writing the model card and examples')
  const files = [...w.written, 'README.md', 'example-node.mjs', 'example.py'].sort()
  await put(
    'README.md',
    buildReadme({ format: opts.format, modelName: run.name ?? model.name, labels, preprocessing: prep, files, runId: run.runId, recipe: run.recipe, recipeDetails: run.recipeDetails, metrics: run.metrics, parity, date: new Date().toISOString().slice(0, 10), params: model.countParams(), onnxOps }),
  )
  await put('example-node.mjs', exampleNode(opts.format))
  await put('example.py', examplePython(opts.format))

  // 6. Into place.
  w.checkCancel()
  progress(5, 'Moving the export into place')
  await moveIntoPlace(w, real, opts, run.runId ?? null, deps)
  progress(6, parity.passed ? 'Done: the export predicts like the app' : 'Done, but the export does NOT predict like the app')
  if (!parity.passed) console.warn(`[export] ${parity.warning}`)
  if (!files.includes(FILE_OF[opts.format])) throw new AppError('INTERNAL', `The export did not produce ${FILE_OF[opts.format]}.`)
  return { format: opts.format, out: w.out, files, parity, runId: run.runId }
}

async function exportInto(projectDir: string, opts: ExportOptions, out: string, ctl: ExportControl, deps: ExportDeps): Promise<ExportResult> {
  const { checkCancel, progress } = exportControls(ctl)

  // 1. Destination checks before any work: leftovers of interrupted exports to it cleaned, then the rule.
  checkCancel()
  await cleanExportLeftovers((await realPathOf(out, 'Cannot export to')).real)
  const { real } = await checkExportDestination(out, !!opts.overwrite)

  checkCancel()
  progress(0, 'Loading the model')
  const run = await deps.loadRun(projectDir, opts.runId)
  // Folded before anything is written: the export and the app's side of the parity check both
  // give the calibrated probabilities predict gives.
  const temperature = run.temperature ?? 1
  const unfold = temperature === 1 ? () => undefined : foldTemperature(run.model, temperature)
  const tmp = siblingName(real, 'partial', randomBytes(4).toString('hex'))
  const unmark = markLive(tmp)
  const w = exportWork(tmp, out, { checkCancel, progress }, deps)
  try {
    await makePartialFolder(w, real, opts.format, run.runId ?? null, deps)
    try {
      return await writeExport(w, projectDir, opts, run, real, temperature, ctl.signal, deps)
    } catch (err) {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
      throw err
    }
  } finally {
    unmark()
    unfold()
    if (!run.keepModel) run.model.dispose()
  }
}
