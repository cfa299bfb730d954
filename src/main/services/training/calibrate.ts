import type { TrainEvent, TrainResult } from '../../../shared/training'
import { useBestBackend } from '../backend'
import { calibrateRun } from '../evaluation/calibrate-run'

const pct = (x: number) => `${(x * 100).toFixed(1)}%`

/**
 * After a run finished: fits its temperature on the validation split (calibration.json), so
 * predict, evaluate and export give calibrated probabilities. A failure is logged, never the
 * training's failure: the run then keeps T = 1.
 */
export async function calibrateAfterTraining(dir: string, result: TrainResult, onEvent?: (e: TrainEvent) => void): Promise<void> {
  const log = (message: string) => onEvent?.({ type: 'log', message })
  try {
    await useBestBackend()
    const c = await calibrateRun(dir, result.runId)
    if (!c) return log('Calibration skipped: the project has no validation images to fit the temperature on.')
    log(`Calibrated on ${c.images} validation images: temperature ${c.temperature.toFixed(3)}, expected calibration error ${pct(c.eceBefore)} -> ${pct(c.eceAfter)}.`)
  } catch (err) {
    log(`Calibration skipped: ${(err as Error).message}`)
  }
}
