import { AppError, parseOrThrow } from '../../../shared/errors'
import { CompareOptions, type ComparedRun, type CompareResult, type RunSettingsSummary } from '../../../shared/compare'
import type { EvalSplit, EvaluationResult } from '../../../shared/evaluation'
import { formatAugment, resolvedOptimizer } from '../../../shared/training'
import { loadRun, type LoadedRun } from '../../ml/training/runs'
import { evaluate } from './project-api'
import { changedImages } from './changed-images'
import type { Ctl } from './deps'

/** How a run was trained: recipe, model, epochs, batch, optimizer and augmentation. */
export function settingsSummary(run: LoadedRun): RunSettingsSummary {
  const o = run.config.options
  const { optimizer, learningRate } = resolvedOptimizer(o)
  const model = run.config.recipe === 'cnn' ? (o.layers ? 'custom' : (o.model ?? 'cnn')) : o.base
  return { recipe: run.config.recipe, model, epochs: o.epochs, batchSize: o.batchSize, learningRate, optimizer, augment: formatAugment(o.augment) }
}

function comparedRun(run: LoadedRun, ev: EvaluationResult): ComparedRun {
  return {
    runId: run.info.runId,
    createdAt: run.info.createdAt,
    settings: settingsSummary(run),
    epochs: run.metrics,
    accuracy: ev.accuracy,
    loss: ev.loss,
    macroF1: ev.report.macroAvg.f1,
    labels: ev.labels,
    confusionMatrix: ev.confusionMatrix,
    normalized: ev.normalized,
  }
}

/** One run's evaluation on the split (cached per run and split), its progress tagged with the run. */
function evaluateSide(projectDir: string, runId: string, split: EvalSplit, side: 'A' | 'B', ctl: Ctl): Promise<EvaluationResult> {
  const onProgress = ctl.onProgress && ((p: Parameters<NonNullable<Ctl['onProgress']>>[0]) => ctl.onProgress?.({ ...p, message: `Run ${side}: ${runId}` }))
  return evaluate(projectDir, { runId, split }, { signal: ctl.signal, onProgress })
}

/**
 * Two runs of a project side by side on the validation or test split: each run's settings,
 * curves (metrics.jsonl) and evaluation (accuracy, loss, macro F1, confusion matrix; the
 * evaluations are cached per run and split), and the images whose prediction changed.
 */
export async function compareRuns(projectDir: string, options: CompareOptions, ctl: Ctl = {}): Promise<CompareResult> {
  const opts = parseOrThrow(CompareOptions, options, 'compare options', 'Give two run ids (the Train view and the runs/ folder list them) and a split (validation or test).', 'BAD_REQUEST')
  if (opts.runA === opts.runB)
    throw new AppError('INVALID_INPUT', `Both sides of the comparison are run ${opts.runA}; a comparison needs two different runs.`, 'Pick another run for one side (the project\'s runs are listed in the Train view and in its runs/ folder).')
  const [runA, runB] = await Promise.all([loadRun(projectDir, opts.runA), loadRun(projectDir, opts.runB)])
  const evA = await evaluateSide(projectDir, opts.runA, opts.split, 'A', ctl)
  const evB = await evaluateSide(projectDir, opts.runB, opts.split, 'B', ctl)
  return { split: opts.split, a: comparedRun(runA, evA), b: comparedRun(runB, evB), ...changedImages(evA.items, evB.items) }
}
