import * as tf from '@tensorflow/tfjs'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { calibrateRunWith } from '../../src/main/services/evaluation/calibrate-run'
import { evaluateWith } from '../../src/main/services/evaluation/evaluate-run'
import { predictWithRun } from '../../src/main/services/evaluation/predict'
import { calibrationPath, readRunCalibration } from '../../src/main/services/calibration/store'
import { applyTemperature } from '../../src/main/services/calibration/temperature'
import { RESCALE_01 } from '../../src/main/ml/models/preprocess'
import type { EvalBatch, EvaluationDeps, RunModel } from '../../src/main/services/evaluation/deps'
import type { ProjectSettings } from '../../src/shared/project'

/**
 * The run's temperature end to end through the services: fitted on the validation split and
 * stored in the run folder, then applied by evaluate and predict; no validation images: no
 * temperature and nothing written.
 */
const S = 4
const LABELS = ['red', 'green', 'blue']
const settings: ProjectSettings = { inputSize: S, resizeMode: 'squash', background: '#ffffff', channels: 3 }
const N = 90
const RUN = 'run-1'

let dir: string
const x = new Uint8Array(N * S * S * 3)
const y = new Int32Array(N)

beforeAll(async () => {
  await tf.setBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'calibration-service-'))
  // The dominant channel is the label, with heavy noise: a confident linear model is often wrong.
  let s = 7
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
  for (let i = 0; i < N; i++) {
    y[i] = i % 3
    for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) x[(i * S * S + p) * 3 + c] = Math.floor(rand() * 220) + (c === y[i] ? 25 : 0)
  }
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** An overconfident "channel detector": large weights on the mean of each channel. */
function model(): tf.LayersModel {
  const m = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [S, S, 3] }), tf.layers.dense({ units: 3, activation: 'softmax' })] })
  const w = new Float32Array(S * S * 3 * 3)
  for (let p = 0; p < S * S; p++) for (let c = 0; c < 3; c++) w[(p * 3 + c) * 3 + c] = 40 / (S * S)
  m.layers[1].setWeights([tf.tensor2d(w, [S * S * 3, 3]), tf.zeros([3])])
  return m
}

function deps(validation: number, calibration?: Pick<RunModel, 'temperature' | 'unknownThresholds'>): EvaluationDeps {
  return {
    loadRunModel: async (): Promise<RunModel> => ({ model: model(), labels: LABELS, preprocess: RESCALE_01, settings, runId: RUN, ...calibration }),
    async *batches(): AsyncGenerator<EvalBatch> {
      for (let s0 = 0; s0 < validation; s0 += 32) {
        const n = Math.min(32, validation - s0)
        yield { ids: Int32Array.from({ length: n }, (_, i) => s0 + i), labels: y.slice(s0, s0 + n), x: x.slice(s0 * S * S * 3, (s0 + n) * S * S * 3), shape: [n, S, S, 3] }
      }
    },
    // predict's "image bytes" are one byte: the index of the image in x
    decodeForModel: async (file) => x.slice((file as Uint8Array)[0] * S * S * 3, ((file as Uint8Array)[0] + 1) * S * S * 3),
  }
}

describe('run calibration through the services', () => {
  it('no validation images: no temperature, nothing written', async () => {
    expect(await calibrateRunWith(deps(0), dir, RUN)).toBeNull()
    await expect(stat(calibrationPath(dir, RUN))).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await readRunCalibration(dir, RUN)).toBeNull()
  })

  it('fits T on validation into runs/<id>/calibration.json; evaluate and predict apply it', async () => {
    const fit = await calibrateRunWith(deps(N), dir, RUN)
    expect(fit).not.toBeNull()
    expect(fit!.temperature).toBeGreaterThan(1.2) // the model is overconfident
    expect(fit!.eceAfter).toBeLessThan(fit!.eceBefore)
    expect(fit!.images).toBe(N)
    const stored = JSON.parse(await readFile(join(dir, 'runs', RUN, 'calibration.json'), 'utf8'))
    expect(stored.temperature).toBe(fit!.temperature)
    const stored2 = (await readRunCalibration(dir, RUN))!
    const T = stored2.temperature
    const cal = { temperature: T, unknownThresholds: stored2.unknownThresholds }

    const ev = await evaluateWith(deps(N, cal), dir, { split: 'validation', force: true })
    expect(ev.calibration).toMatchObject({ temperature: T, fitted: true, applied: true, bins: 15 })
    expect(ev.calibration!.eceBefore).toBeCloseTo(fit!.eceBefore, 6)
    expect(ev.calibration!.eceAfter).toBeCloseTo(fit!.eceAfter, 6)
    const raw = await evaluateWith(deps(N, cal), dir, { split: 'validation', force: true, calibrated: false })
    expect(raw.calibration!.applied).toBe(false)
    expect(ev.loss).toBeLessThan(raw.loss) // T minimises the NLL on these very images
    expect(ev.accuracy).toBe(raw.accuracy)
    expect(ev.calibration!.thresholdsChosenOn).toBe('validation')
    // Another split (the same images here): the thresholds chosen on validation, not new ones
    const test = await evaluateWith(deps(N, cal), dir, { split: 'test', force: true })
    expect(test.calibration!.thresholdsChosenOn).toBe('validation')
    expect(test.calibration!.unknownThresholds).toEqual(fit!.unknownThresholds)

    const run: RunModel = { model: model(), labels: LABELS, preprocess: RESCALE_01, settings, temperature: T }
    const inputs = [0, 1, 2].map((i) => ({ name: `img-${i}`, data: Uint8Array.of(i) }))
    const calibrated = await predictWithRun(deps(N), run, inputs, { top: 3 })
    const uncalibrated = await predictWithRun(deps(N), run, inputs, { top: 3, calibrated: false })
    run.model.dispose()
    for (let i = 0; i < inputs.length; i++) {
      const rawRow = LABELS.map((l) => uncalibrated[i].top.find((t) => t.label === l)!.probability)
      const want = applyTemperature(rawRow, 3, T)
      LABELS.forEach((l, j) => expect(calibrated[i].top.find((t) => t.label === l)!.probability).toBeCloseTo(want[j], 6))
      expect(calibrated[i].label).toBe(uncalibrated[i].label)
      expect(calibrated[i].confidence).toBeLessThan(uncalibrated[i].confidence)
    }
  })
})
