/**
 * A tiny trained project for the export safety tests, made in-process in about a second: 12 px
 * RGB images of three classes imported with the real datasets service, and a run folder with a
 * small CNN checkpoint (the same shape as the end-to-end case of export-service.test.ts).
 */
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { importDataset, loadDatasetIndex } from '../../src/main/services/datasets'
import { writeCheckpoint } from '../../src/main/ml/training/checkpoint'
import { checkpointsDir, createRunDir, writeMetrics } from '../../src/main/ml/training/runs'
import { RESCALE_01 } from '../../src/main/ml/models/preprocess'

/** Writes `perClass` PNGs per class (blue, green, red) into `dir`/<class>/. */
export async function writeColourImages(dir: string, perClass = 6, seed = 7): Promise<void> {
  let s = seed
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
  for (const [ci, cls] of ['blue', 'green', 'red'].entries()) {
    await mkdir(join(dir, cls), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(12 * 12 * 3)
      for (let p = 0; p < 144; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.floor(rand() * 160) + (c === 2 - ci ? 60 : 0)
      await sharp(px, { raw: { width: 12, height: 12, channels: 3 } }).png().toFile(join(dir, cls, `${i}.png`))
    }
  }
}

/** Makes a project in `dir` (created) with imported images and one finished CNN run. */
export async function makeTrainedProject(dir: string, images: string): Promise<string> {
  await tf.setBackend('cpu')
  await mkdir(dir, { recursive: true })
  const now = new Date().toISOString()
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'export-safety', createdAt: now, updatedAt: now, settings: { inputSize: 16, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  await importDataset(dir, images, { size: 16, val: 0.25, test: 0.25, seed: 1 })
  const idx = (await loadDatasetIndex(dir))!
  const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, activation: 'relu' }), tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 3, activation: 'softmax' })] })
  const runId = '20250101-000000-cnn-safety'
  await createRunDir(dir, { runId, createdAt: now, recipe: 'cnn', options: { recipe: 'cnn', epochs: 1, optimizer: 'adam' } as never, labels: idx.classes, imageShape: [16, 16, 3], preprocess: RESCALE_01, settings: idx.settings as unknown as Record<string, unknown>, fromRunId: null, baseWeights: null })
  await writeCheckpoint(checkpointsDir(dir, runId), 'best', { model })
  await writeMetrics(dir, runId, [{ epoch: 1, loss: 1, accuracy: 0.5, valLoss: 0.9, valAccuracy: 0.6, lr: 1e-3, seconds: 1, imagesPerSecond: 10 }])
  model.dispose()
  return runId
}
