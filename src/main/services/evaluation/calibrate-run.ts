import type { RunCalibration } from '../../../shared/calibration'
import { fitRunCalibration } from '../calibration/report'
import { writeRunCalibration } from '../calibration/store'
import { predictProbabilities } from './infer'
import { defaultDeps } from './project-api'
import type { Ctl, EvaluationDeps } from './deps'

/**
 * Fits the run's temperature on its validation split (raw probabilities, the run's best
 * checkpoint) and stores it as calibration.json. Null, and nothing written, when the project
 * has no validation images.
 */
export async function calibrateRunWith(deps: EvaluationDeps, projectDir: string, runId: string, ctl: Ctl = {}): Promise<RunCalibration | null> {
  const run = await deps.loadRunModel(projectDir, runId)
  const probs: number[] = []
  const labels: number[] = []
  try {
    for await (const b of deps.batches(projectDir, 'validation', { batchSize: 64, shuffle: false, signal: ctl.signal })) {
      ctl.signal?.throwIfAborted()
      if (b.shape[0] === 0) continue
      const raw = predictProbabilities(run, b.x, b.shape).probs
      for (const p of raw) probs.push(p)
      for (const l of b.labels) labels.push(l)
      ctl.onProgress?.({ phase: 'calibrate', done: labels.length, total: 0 })
    }
  } finally {
    run.model.dispose()
  }
  if (!labels.length) return null
  const calibration = fitRunCalibration(probs, run.labels.length, labels)
  await writeRunCalibration(projectDir, runId, calibration)
  return calibration
}

export function calibrateRun(projectDir: string, runId: string, ctl: Ctl = {}): Promise<RunCalibration | null> {
  return calibrateRunWith(defaultDeps, projectDir, runId, ctl)
}
