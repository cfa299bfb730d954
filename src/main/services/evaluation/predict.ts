import { readdir, realpath, stat } from 'node:fs/promises'
import { extname, join, resolve } from 'node:path'
import { PredictOptions, UNKNOWN_LABEL, type Prediction } from '../../../shared/evaluation'
import { csvField } from './report'
import { parseOrThrow } from '../../../shared/errors'
import { modelInputShape, predictProbabilities, topIndices } from './infer'
import type { Ctl, EvaluationDeps, RunModel } from './deps'
import { applyTemperature } from '../calibration/temperature'

/** Extensions picked up when a folder is given (files named explicitly are always tried). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.gif', '.webp', '.tif', '.tiff', '.bmp', '.heic', '.heif', '.avif']

/** Bytes of an image pasted or dropped in the UI; `name` is what the results show as `file`. */
export interface ImageBytes {
  name: string
  data: Uint8Array
}

export type PredictInput = string | ImageBytes

const compare = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare

interface Pending {
  file: string
  source?: string | Uint8Array
  error?: string
}

function fsReason(err: unknown, path: string): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return `not found: ${path} does not exist`
  if (code === 'EACCES' || code === 'EPERM') return `cannot read ${path}: permission denied`
  if (code === 'EISDIR') return `${path} is a folder`
  return `cannot read ${path}: ${(err as Error).message}`
}

async function walk(dir: string, out: string[], seen: Set<string>, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted()
  const real = await realpath(dir)
  if (seen.has(real)) return // symlink loop
  seen.add(real)
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => compare(a.name, b.name))
  for (const e of entries) {
    if (e.name.startsWith('.')) continue
    const p = join(dir, e.name)
    let isDir = e.isDirectory()
    let isFile = e.isFile()
    if (e.isSymbolicLink()) {
      const s = await stat(p).catch(() => null)
      isDir = !!s?.isDirectory()
      isFile = !!s?.isFile()
    }
    if (isDir) await walk(p, out, seen, signal)
    else if (isFile && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase())) out.push(p)
  }
}

/**
 * Expands files and folders (recursively, natural order, hidden entries skipped) into the
 * list of images to predict. Problems become per-item errors: a missing path, an empty folder.
 */
export async function expandInputs(inputs: readonly PredictInput[], signal?: AbortSignal): Promise<Pending[]> {
  const out: Pending[] = []
  for (const input of inputs) {
    if (typeof input !== 'string') {
      out.push({ file: input.name, source: input.data })
      continue
    }
    const path = resolve(input)
    let s
    try {
      s = await stat(path)
    } catch (err) {
      out.push({ file: path, error: fsReason(err, path) })
      continue
    }
    if (s.isDirectory()) {
      const files: string[] = []
      try {
        await walk(path, files, new Set(), signal)
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err
        out.push({ file: path, error: fsReason(err, path) })
        continue
      }
      if (files.length === 0) {
        out.push({ file: path, error: `empty folder: no images in ${path} or its subfolders (looked for ${IMAGE_EXTENSIONS.join(' ')})` })
      }
      for (const f of files) out.push({ file: f, source: f })
    } else if (s.isFile()) {
      out.push({ file: path, source: path })
    } else {
      out.push({ file: path, error: `${path} is not a regular file` })
    }
  }
  return out
}

function decodeReason(err: unknown, file: string): string {
  if ((err as NodeJS.ErrnoException).code) return fsReason(err, file)
  const msg = err instanceof Error ? err.message : String(err)
  return msg
}

/**
 * Predicts files, folders (recursive) and in-memory images with the run's model and the
 * project's exact import pipeline (deps.decodeForModel) and preprocessing. Bad inputs (not an
 * image, missing file, empty folder) give an item with `error` and do not stop the others.
 * Throws only when there is no usable model (e.g. the project has no trained run).
 */
export async function predictWith(
  deps: EvaluationDeps,
  projectDir: string,
  inputs: readonly PredictInput[],
  options: PredictOptions = {},
  ctl: Ctl = {},
): Promise<Prediction[]> {
  const opts = parseOrThrow(PredictOptions, options, 'predict options', 'Check the named predict option(s) and try again.', 'BAD_REQUEST')
  ctl.signal?.throwIfAborted()
  const run = await deps.loadRunModel(projectDir, opts.runId)
  try {
    return await predictWithRun(deps, run, inputs, opts, ctl)
  } finally {
    run.model.dispose()
  }
}

/** predictWith for an already loaded run (the UI keeps one loaded between calls); the model is not disposed. */
export async function predictWithRun(
  deps: Pick<EvaluationDeps, 'decodeForModel'>,
  run: RunModel,
  inputs: readonly PredictInput[],
  options: PredictOptions = {},
  ctl: Ctl = {},
): Promise<Prediction[]> {
  const opts = parseOrThrow(PredictOptions, options, 'predict options', 'Check the named predict option(s) and try again.', 'BAD_REQUEST')
  const { signal, onProgress } = ctl
  const pending = await expandInputs(inputs, signal)
  const [h, w] = modelInputShape(run.model)
  const c = run.settings.channels
  const k = run.labels.length
  const results: Prediction[] = pending.map((p) => ({ file: p.file, label: '', confidence: 0, top: [], ...(p.error ? { error: p.error } : {}) }))
  const todo = pending.map((p, i) => ({ p, i })).filter(({ p }) => !p.error)
  const total = todo.length
  let done = 0
  onProgress?.({ phase: 'predict', done, total })
  const per = h * w * c
  for (let start = 0; start < todo.length; start += opts.batchSize) {
    signal?.throwIfAborted()
    const chunk = todo.slice(start, start + opts.batchSize)
    // decode with a little concurrency (sharp works on libuv threads)
    const decoded: (Uint8Array | null)[] = new Array(chunk.length).fill(null)
    let next = 0
    const worker = async () => {
      while (next < chunk.length) {
        const j = next++
        const { p, i } = chunk[j]
        try {
          const px = await deps.decodeForModel(p.source!, run.settings)
          if (px.length !== per) throw new Error(`decoded to ${px.length} values, expected ${h}x${w}x${c} = ${per}; the project's image settings differ from the run's`)
          decoded[j] = px
        } catch (err) {
          results[i].error = decodeReason(err, p.file)
        }
      }
    }
    await Promise.all([worker(), worker()])
    const ok = chunk.map((_, j) => j).filter((j) => decoded[j])
    if (ok.length > 0) {
      const x = new Uint8Array(ok.length * per)
      ok.forEach((j, r) => x.set(decoded[j]!, r * per))
      const { probs: raw } = predictProbabilities(run, x, [ok.length, h, w, c])
      const probs = opts.calibrated && run.temperature ? applyTemperature(raw, k, run.temperature) : raw
      ok.forEach((j, r) => {
        const res = results[chunk[j].i]
        const top = topIndices(probs, r, k, opts.top)
        const conf = probs[r * k + top[0]]
        res.confidence = conf
        res.label = opts.threshold !== undefined && conf < opts.threshold ? UNKNOWN_LABEL : run.labels[top[0]]
        res.top = top.map((t) => ({ label: run.labels[t], probability: probs[r * k + t] }))
      })
    }
    done += chunk.length
    onProgress?.({ phase: 'predict', done, total })
    await new Promise((res) => setImmediate(res))
  }
  return results
}

/** CSV of predictions: file,label,confidence,top1,p1,...,topK,pK,error. */
export function toPredictionsCsv(preds: readonly Prediction[]): string {
  const top = Math.max(1, ...preds.map((p) => p.top.length))
  const head = ['file', 'label', 'confidence']
  for (let i = 1; i <= top; i++) head.push(`top${i}`, `p${i}`)
  head.push('error')
  const lines = [head.join(',')]
  for (const p of preds) {
    const row: string[] = [csvField(p.file), csvField(p.label), p.error ? '' : String(p.confidence)]
    for (let i = 0; i < top; i++) {
      const t = p.top[i]
      row.push(t ? csvField(t.label) : '', t ? String(t.probability) : '')
    }
    row.push(p.error ? csvField(p.error) : '')
    lines.push(row.join(','))
  }
  return lines.join('\n') + '\n'
}
