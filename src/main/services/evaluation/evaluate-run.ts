import type { z } from 'zod'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../platform/fs-atomic'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { EvaluateOptions, type EvalSplit, type EvaluatedItem, type EvaluationResult, type ReportRow } from '../../../shared/evaluation'
import { classificationReport, formatClassificationReport } from './report'
import { confusionMatrix } from './confusion'
import { crossEntropy, predictProbabilities, topIndices } from './infer'
import type { Ctl, EvaluationDeps, RunModel } from './deps'
import type { CalibrationReport } from '../../../shared/calibration'
import { applyTemperature } from '../calibration/temperature'
import { calibrationReport } from '../calibration/report'

type EvaluateOptionsParsed = z.output<typeof EvaluateOptions>

export function evaluationCachePath(projectDir: string, runId: string, split: EvalSplit): string {
  return join(projectDir, 'runs', runId, `evaluation-${split}.json`)
}

/** The cached evaluation of a run's split, or null. */
export async function readCachedEvaluation(projectDir: string, runId: string, split: EvalSplit): Promise<EvaluationResult | null> {
  try {
    return JSON.parse(await readFile(evaluationCachePath(projectDir, runId, split), 'utf8')) as EvaluationResult
  } catch {
    return null
  }
}

/**
 * Evaluates a trained run on the validation or test split: streams the split's batches
 * through the model (bounded memory, tensors disposed per batch), then builds accuracy,
 * loss, the confusion matrix and the sklearn-identical classification report. The result
 * is cached in <P>/runs/<runId>/evaluation-<split>.json (use `force` to recompute).
 */
export async function evaluateWith(
  deps: EvaluationDeps,
  projectDir: string,
  options: EvaluateOptions = {},
  ctl: Ctl = {},
): Promise<EvaluationResult> {
  const opts = parseOrThrow(EvaluateOptions, options, 'evaluate options', 'Check the named evaluate option(s) and try again.', 'BAD_REQUEST')
  ctl.signal?.throwIfAborted()
  const found = deps.evaluationKey ? await deps.evaluationKey(projectDir, opts.split, opts.runId).catch(() => null) : null
  const key = found && { ...found, key: `${found.key}:${opts.calibrated ? 'calibrated' : 'raw'}` }
  if (key && !opts.force) {
    const cached = await readCachedEvaluation(projectDir, key.runId, opts.split)
    if (cached && cached.cacheKey === key.key) return cached
  }
  const run = await deps.loadRunModel(projectDir, key?.runId ?? opts.runId)
  try {
    return await evaluateRun(deps, run, projectDir, opts, ctl, key)
  } finally {
    run.model.dispose()
  }
}

type CacheKey = { runId: string; key: string; size: number } | null

/** What predicting a split gathers: labels, predictions, per-item rows, raw probabilities, summed loss. */
interface SplitPredictions {
  yTrue: number[]
  yPred: number[]
  items: EvaluatedItem[]
  raws: Float32Array[]
  lossSum: number
}

/** Reports evaluation progress (done of total, rate and ETA since creation) through `onProgress`. */
function progressReporter(onProgress: Ctl['onProgress'], total: number): (done: number) => void {
  const started = Date.now()
  return (done: number) => {
    const secs = (Date.now() - started) / 1000
    const rate = secs > 0 ? done / secs : undefined
    onProgress?.({ phase: 'evaluate', done, total, rate, etaSeconds: rate && total ? (total - done) / rate : undefined })
  }
}

/** Row r of a batch as an evaluated item (truth, top prediction, confidence, top 3). */
function evaluatedItem(id: EvaluatedItem['id'], t: number, probs: Float32Array, r: number, labels: readonly string[]): EvaluatedItem {
  const k = labels.length
  const top = topIndices(probs, r, k, Math.min(3, k))
  const p = top[0]
  return {
    id,
    trueIndex: t,
    predIndex: p,
    trueLabel: labels[t],
    predLabel: labels[p],
    confidence: probs[r * k + p],
    top3: top.map((i) => ({ label: labels[i], index: i, probability: probs[r * k + i] })),
  }
}

/** Streams the split's batches through the model (temperature-scaled when `calibrate`), collecting predictions. */
async function predictSplit(
  deps: EvaluationDeps,
  run: RunModel,
  projectDir: string,
  opts: EvaluateOptionsParsed,
  ctl: Ctl,
  calibrate: boolean,
  progress: (done: number) => void,
): Promise<SplitPredictions> {
  const { signal } = ctl
  const labels = run.labels
  const k = labels.length
  const temperature = run.temperature ?? 1
  const out: SplitPredictions = { yTrue: [], yPred: [], items: [], raws: [], lossSum: 0 }
  for await (const batch of deps.batches(projectDir, opts.split, { batchSize: opts.batchSize, shuffle: false, signal })) {
    signal?.throwIfAborted()
    const n = batch.shape[0]
    if (n === 0) continue
    const { probs: raw } = predictProbabilities(run, batch.x, batch.shape)
    out.raws.push(raw)
    const probs = calibrate ? applyTemperature(raw, k, temperature) : raw
    for (let r = 0; r < n; r++) {
      const t = batch.labels[r]
      if (t < 0 || t >= k) {
        throw new AppError(
          'INVALID_INPUT',
          `Item ${batch.ids[r]} has label index ${t} but the run knows ${k} classes (${labels.join(', ')}).`,
          'The dataset\'s classes changed after training: train again to evaluate the current dataset.',
        )
      }
      const item = evaluatedItem(batch.ids[r], t, probs, r, labels)
      out.yTrue.push(t)
      out.yPred.push(item.predIndex)
      out.lossSum += crossEntropy(probs, r, k, t)
      out.items.push(item)
    }
    progress(out.items.length)
    // let other work (IPC, progress) run between batches
    await new Promise((res) => setImmediate(res))
  }
  return out
}

function noImagesError(projectDir: string, split: EvalSplit): AppError {
  return new AppError(
    'INVALID_INPUT',
    `The ${split} split of ${projectDir} has no images to evaluate.`,
    split === 'test'
      ? 'Import a dataset with a test split (a test/ folder or a test fraction), or evaluate the validation split.'
      : 'Import a dataset with a validation split (or a validation fraction) and train again.',
  )
}

/** Sets each item's `src` (its image's source path) where the deps know it. */
async function attachSources(deps: EvaluationDeps, projectDir: string, items: EvaluatedItem[]): Promise<void> {
  if (!deps.sourcesOf) return
  const srcs = await deps.sourcesOf(projectDir, items.map((it) => it.id))
  items.forEach((it, i) => {
    if (srcs[i] !== undefined) it.src = srcs[i]
  })
}

async function evaluateRun(
  deps: EvaluationDeps,
  run: RunModel,
  projectDir: string,
  opts: EvaluateOptionsParsed,
  ctl: Ctl,
  key: CacheKey,
): Promise<EvaluationResult> {
  const runId = run.runId ?? key?.runId ?? opts.runId ?? ''
  const labels = run.labels
  const k = labels.length
  const progress = progressReporter(ctl.onProgress, key?.size ?? 0)
  progress(0)

  const temperature = run.temperature ?? 1
  const calibrate = opts.calibrated && temperature !== 1
  const { yTrue, yPred, items, raws, lossSum } = await predictSplit(deps, run, projectDir, opts, ctl, calibrate, progress)
  if (items.length === 0) throw noImagesError(projectDir, opts.split)
  await attachSources(deps, projectDir, items)
  const cm = confusionMatrix(yTrue, yPred, k)
  const report = classificationReport(yTrue, yPred, labels, { digits: opts.digits })
  let correct = 0
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) correct++
  const result: EvaluationResult = {
    runId,
    split: opts.split,
    accuracy: correct / yTrue.length,
    loss: lossSum / yTrue.length,
    labels: [...labels],
    confusionMatrix: cm.counts,
    normalized: cm.rowNormalized,
    report,
    reportText: formatClassificationReport(report),
    warnings: [...report.warnings],
    items,
    createdAt: new Date().toISOString(),
    calibration: calibrationReport(concatRows(raws), k, yTrue, temperature, { fitted: run.temperature != null, applied: calibrate, split: opts.split, chosen: opts.split === 'validation' ? undefined : run.unknownThresholds }),
    ...(key && key.runId === runId ? { cacheKey: key.key } : {}),
  }
  if (runId && result.cacheKey) await writeFileAtomic(evaluationCachePath(projectDir, runId, opts.split), JSON.stringify(result))
  return result
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * The CLI's `evaluate --json` shape: {runId, split, accuracy, loss, labels, confusionMatrix,
 * normalized, report:{<label>:{precision,recall,f1,support}, accuracy|microAvg, macroAvg,
 * weightedAvg}, warnings} (no per-item list).
 */
export interface EvaluationSummary {
  runId: string
  split: EvalSplit
  accuracy: number
  loss: number
  labels: string[]
  confusionMatrix: number[][]
  normalized: number[][]
  /** Per-label rows, then `accuracy` (a number) or `microAvg`, then `macroAvg`, `weightedAvg`. */
  report: Record<string, ReportRow | number | null>
  warnings: string[]
  /** ECE before/after the run's temperature and the "unknown" thresholds (reliability bins with --calibration). */
  calibration: Omit<CalibrationReport, 'before' | 'after'> & Partial<Pick<CalibrationReport, 'before' | 'after'>> | null
}

export function evaluationSummary(ev: EvaluationResult, opts: { bins?: boolean } = {}): EvaluationSummary {
  const r = ev.report
  const cal = ev.calibration
  const { before, after, ...calibration } = cal ?? ({} as CalibrationReport)
  return {
    runId: ev.runId,
    split: ev.split,
    accuracy: ev.accuracy,
    loss: ev.loss,
    labels: ev.labels,
    confusionMatrix: ev.confusionMatrix,
    normalized: ev.normalized,
    report: {
      ...r.perClass,
      ...(r.microIsAccuracy ? { accuracy: r.accuracy } : { microAvg: r.microAvg }),
      macroAvg: r.macroAvg,
      weightedAvg: r.weightedAvg,
    },
    warnings: ev.warnings,
    calibration: cal ? { ...calibration, ...(opts.bins ? { before, after } : {}) } : null,
  }
}
