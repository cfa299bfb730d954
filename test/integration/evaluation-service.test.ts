import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { mkdtemp, mkdir, rm, writeFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileSaveHandler, loadCheckpointModel } from '../../src/main/ml/training/checkpoint'
import { applyPreprocess, RESCALE_01 } from '../../src/main/ml/models/preprocess'
import { decodeForModel } from '../../src/main/services/datasets/decode'
import { evaluateWith, evaluationCachePath } from '../../src/main/services/evaluation/evaluate-run'
import { predictWith, toPredictionsCsv } from '../../src/main/services/evaluation/predict'
import { cellItems } from '../../src/main/services/evaluation/confusion'
import { classificationReport } from '../../src/main/services/evaluation/report'
import type { EvalBatch, EvaluationDeps, RunModel } from '../../src/main/services/evaluation/deps'
import { saliencyMap, saliencyOverlayPng } from '../../src/main/services/evaluation/saliency'
import { saliencyBatchWith, saliencyWith } from '../../src/main/services/evaluation/project-api'
import { AppError } from '../../src/shared/errors'
import type { ProjectSettings } from '../../src/shared/project'

const S = 8
const LABELS = ['red', 'green', 'blue']
const settings: ProjectSettings = { inputSize: S, resizeMode: 'squash', background: '#ffffff', channels: 3 }
const N = 53

let dir: string
let xAll: Uint8Array
let yAll: Int32Array
let loads = 0
let datasetVersion = 1
let deps: EvaluationDeps

/** A small dataset where the dominant colour channel is the label (with noise, so some are wrong). */
function makeData(seed: number) {
  let s = seed
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648)
  const x = new Uint8Array(N * S * S * 3)
  const y = new Int32Array(N)
  for (let i = 0; i < N; i++) {
    y[i] = i % 3
    for (let p = 0; p < S * S; p++) {
      for (let c = 0; c < 3; c++) x[(i * S * S + p) * 3 + c] = Math.floor(rand() * 200) + (c === y[i] ? 12 : 0)
    }
  }
  return { x, y }
}

async function* fakeBatches(batchSize: number): AsyncGenerator<EvalBatch> {
  for (let s = 0; s < N; s += batchSize) {
    const n = Math.min(batchSize, N - s)
    yield {
      ids: Int32Array.from({ length: n }, (_, i) => 1000 + s + i),
      labels: yAll.slice(s, s + n),
      x: xAll.slice(s * S * S * 3, (s + n) * S * S * 3),
      shape: [n, S, S, 3],
    }
  }
}

function directProbs(model: tf.LayersModel, x: Uint8Array, n: number): Float32Array {
  return tf.tidy(() => {
    const pre = applyPreprocess(tf.tensor4d(x, [n, S, S, 3], 'int32'), RESCALE_01, 3)
    return (model.predict(pre) as tf.Tensor).dataSync() as Float32Array
  })
}

let reference: tf.LayersModel
let imgDir: string
const files: string[] = []

/** Images to predict: three solid colours (png, jpg, nested), a text file in the folder, a text file posing as PNG. */
async function makePredictFixtures() {
  imgDir = join(dir, 'to-predict')
  await mkdir(join(imgDir, 'sub', 'deeper'), { recursive: true })
  await mkdir(join(dir, 'empty-folder'), { recursive: true })
  const colours = [
    { r: 230, g: 20, b: 30 },
    { r: 10, g: 220, b: 40 },
    { r: 20, g: 30, b: 240 },
  ]
  const places = [join(imgDir, 'a.png'), join(imgDir, 'sub', 'b.jpg'), join(imgDir, 'sub', 'deeper', 'c 10.png')]
  for (let i = 0; i < 3; i++) {
    const img = sharp({ create: { width: 20 + i * 7, height: 16, channels: 3, background: colours[i] } })
    await (places[i].endsWith('.jpg') ? img.jpeg() : img.png()).toFile(places[i])
    files.push(places[i])
  }
  await writeFile(join(imgDir, 'notes.txt'), 'not an image, and skipped inside a folder\n')
  await writeFile(join(dir, 'fake.png'), 'this is text pretending to be a PNG\n')
}

beforeAll(async () => {
  await tf.setBackend('cpu')
  dir = await mkdtemp(join(tmpdir(), 'eval-svc-'))
  ;({ x: xAll, y: yAll } = makeData(7))
  // a hand-set model: class = the channel with the highest mean (1x1 identity conv, average, scaled softmax)
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [S, S, 3], filters: 3, kernelSize: 1, useBias: false }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  })
  model.layers[0].setWeights([tf.eye(3).reshape([1, 1, 3, 3])])
  model.layers[2].setWeights([tf.eye(3).mul(5), tf.tensor1d([0, 0.02, -0.02])])
  const runDir = join(dir, 'runs', 'run-1', 'model')
  await mkdir(runDir, { recursive: true })
  await model.save(fileSaveHandler(runDir))
  model.dispose()
  reference = await loadCheckpointModel(runDir)
  await makePredictFixtures()
  deps = {
    async loadRunModel(projectDir: string, runId?: string): Promise<RunModel> {
      loads++
      if (projectDir !== dir) throw new AppError('NOT_FOUND', `No trained run in ${projectDir}.`, 'Train a model first.')
      const id = runId ?? 'run-1'
      return { model: await loadCheckpointModel(join(dir, 'runs', id, 'model')), labels: LABELS, preprocess: RESCALE_01, settings, runId: id }
    },
    batches: (_p, _s, o) => fakeBatches(o.batchSize),
    decodeForModel,
    evaluationKey: async (_p, split, runId) => ({ runId: runId ?? 'run-1', key: `${split}-${datasetVersion}`, size: N }),
  }
})

afterAll(async () => {
  reference?.dispose()
  await rm(dir, { recursive: true, force: true })
})

describe('evaluateWith', () => {
  it('streams the split, matches the model\'s own predictions, builds the report and caches it', async () => {
    const ev = await evaluateWith(deps, dir, { split: 'validation', batchSize: 7, force: true })
    const probs = directProbs(reference, xAll, N)
    const yPred = Array.from({ length: N }, (_, i) => {
      const row = Array.from(probs.slice(i * 3, i * 3 + 3))
      return row.indexOf(Math.max(...row))
    })
    expect(new Set(yPred).size).toBe(3)
    expect(ev.accuracy).toBeGreaterThan(0.5)
    expect(ev.accuracy).toBeLessThan(1) // some off-diagonal cells for the gallery test
    expect(ev.items.map((it) => it.id)).toEqual(Array.from({ length: N }, (_, i) => 1000 + i))
    expect(ev.items.map((it) => it.predIndex)).toEqual(yPred)
    ev.items.forEach((it, i) => {
      expect(it.confidence).toBeCloseTo(probs[i * 3 + yPred[i]], 6)
      expect(it.top3.map((t) => t.probability)).toEqual([...it.top3.map((t) => t.probability)].sort((a, b) => b - a))
      expect(it.trueLabel).toBe(LABELS[yAll[i]])
    })
    // confusion matrix sums to the split size; report equals the pure function on the same labels
    expect(ev.confusionMatrix.flat().reduce((a, b) => a + b, 0)).toBe(N)
    const want = classificationReport(Array.from(yAll), yPred, LABELS)
    expect(ev.report).toEqual(want)
    expect(ev.accuracy).toBe(yPred.filter((p, i) => p === yAll[i]).length / N)
    // loss = TF.js categorical cross-entropy of the same probabilities
    const tfLoss = tf.tidy(() =>
      tf.metrics.categoricalCrossentropy(tf.oneHot(tf.tensor1d(Array.from(yAll), 'int32'), 3), tf.tensor2d(probs, [N, 3])).mean().dataSync()[0],
    )
    expect(ev.loss).toBeCloseTo(tfLoss, 5)
    expect(ev.reportText).toContain('weighted avg')
    // cached on disk; a second call does not load the model; a changed key recomputes
    await stat(evaluationCachePath(dir, 'run-1', 'validation'))
    const n0 = loads
    const again = await evaluateWith(deps, dir, { split: 'validation', runId: 'run-1' })
    expect(loads).toBe(n0)
    expect(again.confusionMatrix).toEqual(ev.confusionMatrix)
    datasetVersion++
    await evaluateWith(deps, dir, { split: 'validation' })
    expect(loads).toBe(n0 + 1)
    await evaluateWith(deps, dir, { split: 'validation' })
    expect(loads).toBe(n0 + 1)
  })

  it('disposes every tensor it creates, the loaded run model included', async () => {
    const before = tf.memory().numTensors
    await evaluateWith(deps, dir, { batchSize: 5, force: true })
    await predictWith(deps, dir, [join(dir, 'fake.png'), join(dir, 'to-predict')])
    expect(tf.memory().numTensors).toBe(before)
  })

  it('cell galleries are exactly the items counted in each cell, most confident first', async () => {
    const ev = await evaluateWith(deps, dir, { split: 'validation', runId: 'run-1' })
    for (let t = 0; t < 3; t++) {
      for (let p = 0; p < 3; p++) {
        const cell = cellItems(ev, t, p)
        expect(cell).toHaveLength(ev.confusionMatrix[t][p])
        for (const it of cell) expect([it.trueIndex, it.predIndex]).toEqual([t, p])
        for (let i = 1; i < cell.length; i++) expect(cell[i - 1].confidence).toBeGreaterThanOrEqual(cell[i].confidence)
      }
    }
  })

  it('can be cancelled between batches', async () => {
    const ac = new AbortController()
    const seen: number[] = []
    const p = evaluateWith(deps, dir, { batchSize: 4, force: true }, {
      signal: ac.signal,
      onProgress: (e) => {
        seen.push(e.done)
        expect(e.total).toBe(N)
        if (e.done >= 8) ac.abort()
      },
    })
    await expect(p).rejects.toMatchObject({ name: 'AbortError' })
    expect(seen).toEqual([0, 4, 8])
  })

  it('an empty split gives a clear error', async () => {
    const empty: EvaluationDeps = { ...deps, batches: async function* () {} }
    await expect(evaluateWith(empty, dir, { split: 'test', force: true })).rejects.toThrow(/test split .* has no images/)
  })
})

describe('predictWith', () => {
  it('predicts files and folders (recursive) with the project pipeline; bad inputs are per-item errors', async () => {
    const missing = join(dir, 'nope.jpg')
    const res = await predictWith(deps, dir, [imgDir, join(dir, 'fake.png'), missing, join(dir, 'empty-folder'), files[0]], { top: 2 })
    expect(res.map((r) => r.file)).toEqual([files[0], files[1], files[2], join(dir, 'fake.png'), missing, join(dir, 'empty-folder'), files[0]])
    expect(res[3].error).toMatch(/not an image: the file contains text/)
    expect(res[4].error).toBe(`not found: ${missing} does not exist`)
    expect(res[5].error).toMatch(/^empty folder: no images in /)
    for (const i of [0, 1, 2, 6]) {
      const r = res[i]
      expect(r.error).toBeUndefined()
      const px = await decodeForModel(r.file, settings)
      const probs = directProbs(reference, px, 1)
      const order = [0, 1, 2].sort((a, b) => probs[b] - probs[a])
      expect(r.label).toBe(LABELS[order[0]])
      expect(r.top.map((t) => t.label)).toEqual([LABELS[order[0]], LABELS[order[1]]])
      expect(r.confidence).toBeCloseTo(probs[order[0]], 6)
      expect(r.top[0].probability).toBe(r.confidence)
    }
    const csv = toPredictionsCsv(res).trimEnd().split('\n')
    expect(csv[0]).toBe('file,label,confidence,top1,p1,top2,p2,error')
    expect(csv).toHaveLength(res.length + 1)
    expect(csv[5].endsWith(`,not found: ${missing} does not exist`)).toBe(true)
  })

  it('answers "unknown" below the threshold and accepts in-memory images', async () => {
    const [r0] = await predictWith(deps, dir, [files[1]])
    expect(r0.confidence).toBeLessThan(1)
    const bytes = await import('node:fs/promises').then((fs) => fs.readFile(files[1]))
    const [hi, lo] = await Promise.all([
      predictWith(deps, dir, [{ name: 'pasted.jpg', data: bytes }], { threshold: Math.min(1, r0.confidence + 1e-6) }),
      predictWith(deps, dir, [{ name: 'pasted.jpg', data: bytes }], { threshold: r0.confidence - 1e-6 }),
    ])
    expect(hi[0].label).toBe('unknown')
    expect(hi[0].confidence).toBe(r0.confidence)
    expect(lo[0].label).toBe(r0.label)
    expect(lo[0].file).toBe('pasted.jpg')
  })

  it('rejects bad options with a clear message', async () => {
    await expect(predictWith(deps, dir, [files[0]], { threshold: 2 })).rejects.toThrow(/threshold/)
    await expect(predictWith(deps, dir, [files[0]], { top: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
  })

  it('a project without a trained run is a clear error', async () => {
    await expect(predictWith(deps, join(dir, 'empty-folder'), [files[0]])).rejects.toThrow(/No trained run/)
  })
})

describe('saliency', () => {
  it('equals finite differences of log p(class) w.r.t. the pixels, and renders a PNG overlay', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [S, S, 3], filters: 2, kernelSize: 3, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
        tf.layers.flatten({}),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
      ],
    })
    const run: RunModel = { model, labels: LABELS, preprocess: RESCALE_01, settings }
    const px = xAll.slice(0, S * S * 3)
    const before = tf.memory().numTensors
    const s = saliencyMap(run, px, 1)
    expect(tf.memory().numTensors).toBe(before)
    expect(s.classIndex).toBe(1)
    const logp = (v: Float32Array) =>
      tf.tidy(() => Math.log((model.predict(applyPreprocess(tf.tensor4d(v, [1, S, S, 3]), RESCALE_01, 3)) as tf.Tensor).dataSync()[1]))
    let checked = 0
    for (const pos of [0, 9, 27, 36, 63]) {
      let best = 0
      for (let c = 0; c < 3; c++) {
        const hi = Float32Array.from(px)
        const lo = Float32Array.from(px)
        hi[pos * 3 + c] += 2
        lo[pos * 3 + c] -= 2
        best = Math.max(best, Math.abs((logp(hi) - logp(lo)) / 4))
      }
      expect(Math.abs(s.map[pos] - best)).toBeLessThanOrEqual(0.05 * best + 2e-6)
      if (best > 1e-5) checked++
    }
    expect(checked).toBeGreaterThan(2)
    const png = await saliencyOverlayPng(px, 3, s)
    const meta = await sharp(png).metadata()
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 224, 224])
    // default class = the predicted one
    const probs = directProbs(model, px, 1)
    expect(saliencyMap(run, px).classIndex).toBe(Array.from(probs).indexOf(Math.max(...probs)))
    model.dispose()
  })

  it('service: by dataset item or by file; bad files are clear errors', async () => {
    const withItems: EvaluationDeps = { ...deps, readItem: async (_p, id) => xAll.slice((id - 1000) * S * S * 3, (id - 999) * S * S * 3) }
    const r = await saliencyWith(withItems, dir, { id: 1004 })
    expect((await sharp(r.png).metadata()).width).toBe(224)
    expect(LABELS[r.classIndex]).toBe(r.label)
    await expect(saliencyWith(withItems, dir, { file: join(dir, 'fake.png') })).rejects.toThrow(/Cannot compute saliency for .*fake.png: not an image/)
    await expect(saliencyWith(withItems, dir, { file: join(dir, 'missing.png') })).rejects.toThrow(/the file does not exist/)
  })

  it('batch (the studio’s evaluation.saliency): one model load for dataset items, files and uploads, in order; a bad file is an item with its error', async () => {
    const withItems: EvaluationDeps = { ...deps, readItem: async (_p, id) => xAll.slice((id - 1000) * S * S * 3, (id - 999) * S * S * 3) }
    const before = loads
    const upload = new Uint8Array(await import('node:fs/promises').then((fs) => fs.readFile(files[0])))
    const r = await saliencyBatchWith(withItems, dir, [{ id: 1004 }, { file: join(dir, 'fake.png') }, { file: join(dir, 'missing.png') }, { name: 'dropped.png', data: upload }], { size: 64 })
    expect(loads - before).toBe(1)
    expect(r.map((x) => x.key)).toEqual(['id:1004', join(dir, 'fake.png'), join(dir, 'missing.png'), 'dropped.png'])
    expect(r[1].error).toMatch(/not an image/)
    expect(r[2].error).toBe('the file does not exist')
    for (const i of [0, 3]) {
      expect(r[i].error).toBeUndefined()
      expect((await sharp(r[i].result!.png).metadata()).width).toBe(64)
      expect(LABELS[r[i].result!.classIndex]).toBe(r[i].result!.label)
    }
    await expect(saliencyBatchWith(withItems, join(dir, 'empty-folder'), [{ id: 1 }])).rejects.toThrow(/No trained run/)
  })
})
