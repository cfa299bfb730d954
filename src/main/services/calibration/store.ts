import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { RunCalibration } from '../../../shared/calibration'
import { runDir } from '../../ml/training/runs'
import { writeFileAtomic } from '../../platform/fs-atomic'

export const calibrationPath = (projectDir: string, runId: string) => join(runDir(projectDir, runId), 'calibration.json')

/** The run's fitted calibration, or null (older runs, runs without validation images: T = 1). */
export async function readRunCalibration(projectDir: string, runId: string): Promise<RunCalibration | null> {
  try {
    const c = JSON.parse(await readFile(calibrationPath(projectDir, runId), 'utf8')) as RunCalibration
    return Number.isFinite(c?.temperature) && c.temperature > 0 ? c : null
  } catch {
    return null
  }
}

export async function writeRunCalibration(projectDir: string, runId: string, c: RunCalibration): Promise<void> {
  await writeFileAtomic(calibrationPath(projectDir, runId), JSON.stringify(c, null, 2) + '\n')
}

/** The temperature predict, evaluate and export apply for a run (1 when none was fitted). */
export async function runTemperature(projectDir: string, runId: string): Promise<number> {
  return (await readRunCalibration(projectDir, runId))?.temperature ?? 1
}
