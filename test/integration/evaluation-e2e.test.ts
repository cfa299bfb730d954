import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importDataset, loadDatasetIndex, readItems, setExcluded, splitIds } from '../../src/main/services/datasets'
import { writeCheckpoint } from '../../src/main/ml/training/checkpoint'
import { checkpointsDir, createRunDir, writeRunStatus } from '../../src/main/ml/training/runs'
import { RESCALE_01 } from '../../src/main/ml/models/preprocess'
import { cellItems, evaluate, evaluationCachePath, evaluationSummary, predict, toPredictionsCsv } from '../../src/main/services/evaluation'
import { AppError } from '../../src/shared/errors'

/**
 * The real pipeline: a project with an imported folder dataset, a run folder written with
 * training's own run/checkpoint functions (a small hand-set model, so no training time),
 * then evaluate and predict through the datasets and training services.
 */

const LABELS = ['blue', 'green', 'red'] // folder names, sorted as import sorts them
let root: string
let P: string
let src: string

async function newProject(dir: string) {
  await mkdir(dir, { recursive: true })
  const now = new Date().toISOString()
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'p', createdAt: now, updatedAt: now, settings: { inputSize: 16, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
}

beforeAll(async () => {
  await tf.setBackend('cpu')
  root = await mkdtemp(join(tmpdir(), 'eval-e2e-'))
  src = join(root, 'src')
  // noisy colour images: the dominant channel is the class, but noise makes some ambiguous
  let s = 11
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648)
  const chan: Record<string, number> = { red: 0, green: 1, blue: 2 }
  for (const cls of LABELS) {
    await mkdir(join(src, cls), { recursive: true })
    for (let i = 0; i < 14; i++) {
      const w = 12 + (i % 3) * 5
      const h = 10 + (i % 4) * 3
      const px = Buffer.alloc(w * h * 3)
      for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.floor(rand() * 180) + (c === chan[cls] ? 30 : 0)
      await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(src, cls, `${cls}-${i}.png`))
    }
  }
  P = join(root, 'project')
  await newProject(P)
  await importDataset(P, src, { size: 16, val: 0.4, test: 0, seed: 3 })
  const idx = (await loadDatasetIndex(P))!
  expect(idx.classes).toEqual(LABELS)

  // class = channel with the highest mean (labels order blue, green, red = channels 2, 1, 0)
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 3, kernelSize: 1, useBias: false }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  })
  const perm = tf.tensor2d([[0, 0, 1], [0, 1, 0], [1, 0, 0]]) // input channel c -> class
  model.layers[0].setWeights([perm.reshape([1, 1, 3, 3])])
  model.layers[2].setWeights([tf.eye(3).mul(6), tf.zeros([3])])
  perm.dispose()
  const runId = '20250101-000000-cnn-test'
  await createRunDir(P, {
    runId,
    createdAt: new Date().toISOString(),
    recipe: 'cnn',
    options: { recipe: 'cnn', epochs: 1 } as never,
    labels: LABELS,
    imageShape: [16, 16, 3],
    preprocess: RESCALE_01,
    settings: idx.settings as unknown as Record<string, unknown>,
    fromRunId: null,
    baseWeights: null,
  })
  await writeCheckpoint(checkpointsDir(P, runId), 'best', { model })
  await writeRunStatus(P, runId, { status: 'completed', backend: 'cpu', epochsDone: 1, best: { epoch: 1, valAccuracy: null }, stoppedEarly: false })
  model.dispose()
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('evaluate + predict on a real project and run folder', () => {
  it('the confusion matrix sums to the split size; cells hold exactly those items; the result is cached and invalidated', async () => {
    const idx = (await loadDatasetIndex(P))!
    const ids = Array.from(splitIds(idx, 'validation'))
    const before = tf.memory().numTensors
    const ev = await evaluate(P, { split: 'validation' })
    expect(tf.memory().numTensors).toBe(before)
    expect(ev.labels).toEqual(LABELS)
    expect(ev.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(ids.length)
    expect(ev.items.map((i) => i.id)).toEqual(ids)
    for (const it of ev.items) {
      expect(it.trueIndex).toBe(idx.items[it.id].label)
      expect(it.src).toBe(idx.items[it.id].src)
    }
    expect(ev.accuracy).toBeGreaterThan(0.5)
    const sum = evaluationSummary(ev)
    expect(Object.keys(sum.report)).toEqual([...LABELS, 'accuracy', 'macroAvg', 'weightedAvg'])
    expect(sum.report.accuracy).toBe(ev.accuracy)
    expect(JSON.stringify(sum).length).toBeLessThan(JSON.stringify(ev).length)
    for (let t = 0; t < 3; t++) for (let p = 0; p < 3; p++) expect(cellItems(ev, t, p)).toHaveLength(ev.confusionMatrix[t][p])
    // the gallery's pixels are the cached pixels the model saw
    const cell = cellItems(ev, 0, 0)
    const batch = await readItems(P, cell.map((c) => c.id))
    expect(Array.from(batch.labels)).toEqual(cell.map(() => 0))

    await stat(evaluationCachePath(P, ev.runId, 'validation'))
    const again = await evaluate(P, { split: 'validation' })
    expect(again.createdAt).toBe(ev.createdAt)
    // excluding an image changes the split: the cache is not used
    await setExcluded(P, [ids[0]], true)
    const after = await evaluate(P, { split: 'validation' })
    expect(after.items).toHaveLength(ids.length - 1)
    expect(after.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(ids.length - 1)
    await setExcluded(P, [ids[0]], false)
  })

  it('predicting the source files gives the evaluation\'s answers (same pipeline, same probabilities)', async () => {
    const ev = await evaluate(P, { split: 'validation' })
    const preds = await predict(P, [src], { top: 3 })
    const idx = (await loadDatasetIndex(P))!
    expect(preds).toHaveLength(idx.items.length)
    const byFile = new Map(preds.map((p) => [p.file, p]))
    for (const it of ev.items) {
      const p = byFile.get(it.src!)!
      expect(p.error).toBeUndefined()
      expect(p.label).toBe(it.predLabel)
      expect(p.confidence).toBe(it.confidence)
      expect(p.top.map((t) => [t.label, t.probability])).toEqual(it.top3.map((t) => [t.label, t.probability]))
    }
    expect(toPredictionsCsv(preds).trimEnd().split('\n')).toHaveLength(preds.length + 1)
  })

  it('a project with no trained run and an empty test split give clear errors', async () => {
    const bare = join(root, 'bare')
    await newProject(bare)
    await importDataset(bare, src, { size: 16 })
    const e1 = await evaluate(bare).catch((e) => e)
    expect(e1).toBeInstanceOf(AppError)
    expect(e1).toMatchObject({ code: 'NOT_FOUND' })
    expect(e1.message).toMatch(/has no trained model yet/)
    expect(e1.hint).toMatch(/[Tt]rain/)
    await expect(predict(bare, [src])).rejects.toThrow(/has no trained model yet/)
    await expect(evaluate(P, { split: 'test' })).rejects.toThrow(/test split .* has no images to evaluate/)
  })
})
