import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, writeFile, readdir, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { exportModel, defaultExportDeps, type ExportDeps, type ExportRun, type GoldenSet } from '../../src/main/services/export'
import { importDataset, loadDatasetIndex } from '../../src/main/services/datasets'
import { evaluate } from '../../src/main/services/evaluation'
import { writeCheckpoint } from '../../src/main/ml/training/checkpoint'
import { checkpointsDir, createRunDir, writeMetrics } from '../../src/main/ml/training/runs'
import { RESCALE_01, preprocessFor } from '../../src/main/ml/models/preprocess'
import { buildTransferModel } from '../../src/main/ml/models/transfer'
import { PreprocessingJson } from '../../src/shared/export'
import { AppError } from '../../src/shared/errors'
import { EXPORT_MANIFEST } from '../../src/main/services/ownership'
import type { ProjectSettings } from '../../src/shared/project'
import { pythonLacks } from '../helpers/python'
import { fashionCnn, randomImages, randomizeBatchNorm, randomizeBiases } from './export-fixtures'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const FASHION_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
const GRAY28: ProjectSettings = { inputSize: 28, resizeMode: 'squash', background: '#000000', channels: 1 }

function fashionRun(): ExportRun {
  const model = fashionCnn()
  randomizeBiases(model)
  // Larger last-layer weights so the ten classes get clearly different probabilities.
  const d = model.getLayer('dense_1')
  d.setWeights([tf.mul(d.getWeights()[0], 8), d.getWeights()[1]])
  return { model, labels: FASHION_LABELS, preprocess: RESCALE_01, settings: GRAY28, runId: 'run-1', recipe: 'cnn', metrics: [{ name: 'validation accuracy', value: 0.91 }] }
}

function deps(run: () => ExportRun, golden: GoldenSet | null, fs: Partial<ExportDeps['fs']> = {}): ExportDeps {
  return { loadRun: async () => run(), goldenSet: async () => golden, fs: { ...defaultExportDeps.fs, ...fs } }
}

function golden(n: number, size: number, c: number): GoldenSet {
  const { u8, shape } = randomImages(n, size, c, 5)
  return { ids: Int32Array.from({ length: n }, (_, i) => i), labels: new Int32Array(n), x: u8, shape, source: 'test images' }
}

const tmp = (p: string) => mkdtemp(join(tmpdir(), p))

/** Nothing but `keep` in the folder: no ".partial" / ".old" leftovers (the export's own manifest aside). */
function entries(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n !== EXPORT_MANIFEST)
    .sort()
}

describe('exportModel', () => {
  it('TF.js: model.json + shards, labels, preprocessing, card, examples; parity in TF.js from disk is exact', async () => {
    const root = await tmp('export-svc-')
    const out = join(root, 'fashion-tfjs')
    const r = await exportModel('/unused', { format: 'tfjs', out }, {}, deps(fashionRun, golden(12, 28, 1)))
    expect(r.files).toEqual(['README.md', 'example-node.mjs', 'example.py', 'group1-shard1of1.bin', 'labels.json', 'model.json', 'parity.json', 'preprocessing.json'])
    expect(entries(root)).toEqual(['fashion-tfjs'])
    expect(entries(out)).toEqual(r.files)
    expect(JSON.parse(readFileSync(join(out, EXPORT_MANIFEST), 'utf8'))).toMatchObject({ app: 'classifier-studio', kind: 'export', state: 'complete', format: 'tfjs', runId: 'run-1', files: r.files })
    expect(r.parity).toMatchObject({ images: 12, labelAgreement: 1, passed: true })
    expect(r.parity.maxAbsDiff).toBeLessThanOrEqual(1e-6)
    const prep = PreprocessingJson.parse(JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8')))
    expect(prep).toMatchObject({ inputSize: 28, resizeMode: 'squash', colour: 'grayscale', channels: 1, channelOrder: 'GRAY', layout: 'NHWC', foldedIntoModel: false, normalization: RESCALE_01 })
    expect(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8'))).toEqual(FASHION_LABELS)
    const json = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'))
    expect(json.format).toBe('layers-model')
    expect(json.weightsManifest[0].weights.length).toBe(8)
    const readme = readFileSync(join(out, 'README.md'), 'utf8')
    for (const s of ['Ankle boot', 'x * 0.00392156862745098 + 0', 'validation accuracy: 0.9100', 'PASSED', 'Recipe: cnn', '333,526']) expect(readme).toContain(s)
    const parity = JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8'))
    expect(parity).toMatchObject({ images: 12, passed: true, format: 'tfjs', runId: 'run-1' })
    execFileSync(process.execPath, ['--check', join(out, 'example-node.mjs')])
    execFileSync('/usr/bin/python3', ['-m', 'py_compile', join(out, 'example.py')])
  })

  it('ONNX of a MobileNetV2 transfer model on a grayscale project: gray->RGB and x/127.5-1 folded in, parity <= 1e-4', async () => {
    const root = await tmp('export-svc-')
    const out = join(root, 'mnv2.onnx.d')
    const run = (): ExportRun => {
      const { model } = buildTransferModel('mobilenetv2', { inputShape: [96, 96, 3], numClasses: 3, alpha: 0.35 })
      randomizeBatchNorm(model, 2, tf.randomUniform([4, 96, 96, 3], -1, 1))
      randomizeBiases(model)
      return { model, labels: ['a', 'b', 'c'], preprocess: preprocessFor('mobilenetv2'), settings: { inputSize: 96, resizeMode: 'crop', background: '#ffffff', channels: 1 } }
    }
    const r = await exportModel('/unused', { format: 'onnx', out }, {}, deps(run, golden(6, 96, 1)))
    expect(r.parity.passed).toBe(true)
    expect(r.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.parity.runtime).toMatch(/onnxruntime-node/)
    const prep = PreprocessingJson.parse(JSON.parse(readFileSync(join(out, 'preprocessing.json'), 'utf8')))
    expect(prep).toMatchObject({ foldedIntoModel: true, grayToRgb: true, channels: 1, inputName: 'input', outputName: 'probabilities', layout: 'NHWC', resizeMode: 'crop' })
    expect(entries(root)).toEqual(['mnv2.onnx.d'])
  })

  it.skipIf(pythonLacks('h5py', 'numpy'))('Keras .h5: h5py layout check passes and the re-read model predicts the same (parity)', async () => {
    const out = join(await tmp('export-svc-'), 'h5')
    const r = await exportModel('/unused', { format: 'h5', out }, {}, deps(fashionRun, golden(8, 28, 1)))
    expect(r.files).toContain('model.h5')
    expect(r.parity).toMatchObject({ passed: true, maxAbsDiff: 0, labelAgreement: 1 })
    const layout = JSON.parse(execFileSync('/usr/bin/python3', ['scripts/golden/h5_check.py', join(out, 'model.h5')], { encoding: 'utf8' }))
    expect(layout.layer_names.length).toBe(8)
    expect(layout.missing).toEqual([])
  })

  it('flags loudly an export that predicts differently (a wrong preprocessing.json)', async () => {
    const out = join(await tmp('export-svc-'), 'bad')
    const sabotage = async (p: string, d: string | Uint8Array) => {
      if (p.endsWith('preprocessing.json')) d = String(d).replace('"scale": 0.00392156862745098', '"scale": 0.00784313725490196')
      await writeFile(p, d)
    }
    const r = await exportModel('/unused', { format: 'tfjs', out }, {}, deps(fashionRun, golden(8, 28, 1), { writeFile: sabotage }))
    expect(r.parity.passed).toBe(false)
    expect(r.parity.maxAbsDiff).toBeGreaterThan(1e-3)
    expect(r.parity.warning).toMatch(/does NOT predict like the app/)
    expect(readFileSync(join(out, 'README.md'), 'utf8')).toContain('**FAILED**')
    expect(JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8')).passed).toBe(false)
  })

  it('leaks no tensors (every format), and keepModel leaves the caller\'s model usable', async () => {
    const run = fashionRun()
    const root = await tmp('export-svc-')
    const before = tf.memory().numTensors
    for (const format of ['tfjs', 'h5', 'onnx'] as const) await exportModel('/unused', { format, out: join(root, format) }, {}, deps(() => ({ ...run, keepModel: true }), golden(3, 28, 1)))
    expect(tf.memory().numTensors).toBe(before)
    expect(run.model.countParams()).toBe(333526)
    run.model.dispose()
  })

  describe('broken destinations leave no half-written export', () => {
    it('a folder with other files is refused, with or without overwrite; an earlier export is replaced with it', async () => {
      const root = await tmp('export-svc-')
      const out = join(root, 'taken')
      await mkdir(out)
      await writeFile(join(out, 'notes.txt'), 'mine')
      const err = await exportModel('/unused', { format: 'tfjs', out }, {}, deps(fashionRun, golden(2, 28, 1))).catch((e) => e)
      expect(err).toBeInstanceOf(AppError)
      expect(err.code).toBe('INVALID_INPUT')
      expect(err.message).toBe(`Cannot export to ${out}: the folder exists and is not empty: it holds 1 item(s) Classifier Studio did not make (notes.txt).`)
      expect(err.hint).toMatch(/new or empty folder/)
      expect(entries(out)).toEqual(['notes.txt'])
      expect(entries(root)).toEqual(['taken'])
      const err2 = await exportModel('/unused', { format: 'tfjs', out, overwrite: true }, {}, deps(fashionRun, golden(2, 28, 1))).catch((e) => e)
      expect(err2).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/never other files/) })
      expect(entries(out)).toEqual(['notes.txt'])
      expect(entries(root)).toEqual(['taken'])
      const earlier = join(root, 'earlier')
      await exportModel('/unused', { format: 'onnx', out: earlier }, {}, deps(fashionRun, golden(2, 28, 1)))
      await expect(exportModel('/unused', { format: 'tfjs', out: earlier }, {}, deps(fashionRun, golden(2, 28, 1)))).rejects.toMatchObject({ code: 'INVALID_INPUT', hint: expect.stringMatching(/overwrite/) })
      const r = await exportModel('/unused', { format: 'tfjs', out: earlier, overwrite: true }, {}, deps(fashionRun, golden(2, 28, 1)))
      expect(entries(earlier)).toEqual(r.files)
      expect(entries(root)).toEqual(['earlier', 'taken'])
      // An existing empty folder is fine.
      const empty = join(root, 'empty')
      await mkdir(empty)
      await exportModel('/unused', { format: 'onnx', out: empty }, {}, deps(fashionRun, golden(2, 28, 1)))
      expect(entries(empty)).toContain('model.onnx')
    })

    it('a read-only place: clear FORBIDDEN error, nothing created', async () => {
      // /sys refuses writes even to root (EPERM), so this is a real read-only file system here.
      const err = await exportModel('/unused', { format: 'onnx', out: '/sys/classifier-studio-export' }, {}, deps(fashionRun, golden(2, 28, 1))).catch((e) => e)
      expect(err).toBeInstanceOf(AppError)
      expect(err.code).toBe('FORBIDDEN')
      expect(err.message).toMatch(/^Cannot export to \/sys\/classifier-studio-export: creating the export folder was refused \(E(PERM|ACCES|ROFS)/)
      expect((await readdir('/sys')).filter((e) => e.includes('classifier-studio'))).toEqual([])
      // And a folder made read-only (the error a non-root user gets), injected:
      const root = await tmp('export-svc-')
      const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })
      const err2 = await exportModel('/unused', { format: 'tfjs', out: join(root, 'x') }, {}, deps(fashionRun, golden(2, 28, 1), { mkdir: async () => Promise.reject(denied) })).catch((e) => e)
      expect(err2.code).toBe('FORBIDDEN')
      expect(entries(root)).toEqual([])
    })

    it('a full disk mid-export: clear error, the partial folder is removed', async () => {
      const root = await tmp('export-svc-')
      const out = join(root, 'full')
      let writes = 0
      const fullAfter3 = async (p: string, d: string | Uint8Array) => {
        if (++writes > 3) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
        await writeFile(p, d)
      }
      const err = await exportModel('/unused', { format: 'tfjs', out }, {}, deps(fashionRun, golden(2, 28, 1), { writeFile: fullAfter3 })).catch((e) => e)
      expect(err).toBeInstanceOf(AppError)
      expect(err.code).toBe('DISK_FULL') // HTTP 507 on the web bridge: the machine's condition, not a bug
      expect(err.message).toMatch(/^Cannot export to .*full: the disk is full \(ENOSPC while writing preprocessing\.json\)\. The partial export was removed\.$/)
      expect(err.hint).toMatch(/Free some space/)
      expect(writes).toBe(4)
      expect(entries(root)).toEqual([])
      expect(existsSync(out)).toBe(false)
    })

    it('a failing final rename keeps the old export when overwriting', async () => {
      const root = await tmp('export-svc-')
      const out = join(root, 'keep')
      await exportModel('/unused', { format: 'tfjs', out }, {}, deps(fashionRun, golden(2, 28, 1)))
      const before = entries(out)
      let n = 0
      const renameFailsSecond = async (a: string, b: string) => {
        if (++n === 2) throw Object.assign(new Error('EIO'), { code: 'EIO' })
        await (await import('node:fs/promises')).rename(a, b)
      }
      await expect(exportModel('/unused', { format: 'onnx', out, overwrite: true }, {}, deps(fashionRun, golden(2, 28, 1), { rename: renameFailsSecond }))).rejects.toThrow('EIO')
      expect(entries(out)).toEqual(before)
      expect(entries(root)).toEqual(['keep'])
    })

    it('cancel: CANCELLED and nothing left', async () => {
      const root = await tmp('export-svc-')
      const ac = new AbortController()
      const err = await exportModel('/unused', { format: 'tfjs', out: join(root, 'c') }, { signal: ac.signal, onProgress: (p) => p.done === 2 && ac.abort() }, deps(fashionRun, golden(2, 28, 1))).catch((e) => e)
      expect(err.code).toBe('CANCELLED')
      expect(entries(root)).toEqual([])
    })
  })

  it('end to end with the real services: imported project + training run folder, stratified golden set', async () => {
    const root = await tmp('export-e2e-')
    const src = join(root, 'src')
    const labels = ['blue', 'green', 'red']
    let s = 7
    const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648
    for (const [ci, cls] of labels.entries()) {
      await mkdir(join(src, cls), { recursive: true })
      for (let i = 0; i < 8; i++) {
        const px = Buffer.alloc(12 * 12 * 3)
        for (let p = 0; p < 144; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.floor(rand() * 160) + (c === 2 - ci ? 60 : 0)
        await sharp(px, { raw: { width: 12, height: 12, channels: 3 } }).png().toFile(join(src, cls, `${i}.png`))
      }
    }
    const P = join(root, 'project')
    await mkdir(P)
    const now = new Date().toISOString()
    await writeFile(join(P, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'p', createdAt: now, updatedAt: now, settings: { inputSize: 16, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
    await importDataset(P, src, { size: 16, val: 0.25, test: 0.25, seed: 1 })
    const idx = (await loadDatasetIndex(P))!
    const model = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 4, kernelSize: 3, activation: 'relu' }), tf.layers.batchNormalization({}), tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 3, activation: 'softmax' })] })
    randomizeBatchNorm(model, 4, tf.randomUniform([4, 16, 16, 3], 0, 1))
    const runId = '20250101-000000-cnn-exp1'
    await createRunDir(P, { runId, createdAt: now, recipe: 'cnn', options: { recipe: 'cnn', epochs: 2, optimizer: 'adam' } as never, labels: idx.classes, imageShape: [16, 16, 3], preprocess: RESCALE_01, settings: idx.settings as unknown as Record<string, unknown>, fromRunId: null, baseWeights: null })
    await writeCheckpoint(checkpointsDir(P, runId), 'best', { model })
    await writeMetrics(P, runId, [{ epoch: 1, loss: 1, accuracy: 0.5, valLoss: 0.9, valAccuracy: 0.625, lr: 1e-3, seconds: 1, imagesPerSecond: 10 }])
    const ev = await evaluate(P, { split: 'test' })
    for (const format of ['onnx', 'h5', 'tfjs'] as const) {
      const out = join(root, `export-${format}`)
      const r = await exportModel(P, { format, out, parityImages: 5 })
      expect(r.runId).toBe(runId)
      expect(r.parity.passed).toBe(true)
      expect(r.parity.images).toBe(5)
      const parity = JSON.parse(readFileSync(join(out, 'parity.json'), 'utf8'))
      const testIds = idx.items.filter((it) => it.split === 'test').map((it) => it.id)
      expect(parity.imageIds.every((id: number) => testIds.includes(id))).toBe(true)
      // stratified: 5 images over 3 classes -> 2, 2, 1
      const perClass = labels.map((_, c) => parity.imageIds.filter((id: number) => idx.items[id].label === c).length).sort()
      expect(perClass).toEqual([1, 2, 2])
      const readme = readFileSync(join(out, 'README.md'), 'utf8')
      expect(readme).toContain('validation accuracy (best epoch 1): 0.6250')
      expect(readme).toContain(`test accuracy (${ev.items.length} images, evaluated ${ev.createdAt.slice(0, 10)}): ${ev.accuracy.toFixed(4)}`)
    }
    // The Node examples classify an image file exactly like the app (a 16x16 PNG: resizing is the identity).
    const px = Buffer.alloc(16 * 16 * 3)
    for (let p = 0; p < 256; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = Math.floor(rand() * 200) + (c === 1 ? 50 : 0)
    const png = join(root, 'probe.png')
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(png)
    const app = tf.tidy(() => (model.predict(tf.tensor4d(px, [1, 16, 16, 3], 'int32').toFloat().div(255)) as tf.Tensor).dataSync())
    const best = app.indexOf(Math.max(...app))
    for (const format of ['onnx', 'tfjs', 'h5'] as const) {
      const dir = join(root, `export-${format}`)
      await symlink(join(process.cwd(), 'node_modules'), join(dir, 'node_modules'), 'dir')
      const printed = execFileSync(process.execPath, [join(dir, 'example-node.mjs'), png], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()
      expect(printed, format).toBe(`${idx.classes[best]} ${app[best].toFixed(4)}`)
    }
    const err = await exportModel(P, { format: 'onnx', out: join(root, 'nope'), runId: 'no-such-run' }).catch((e) => e)
    expect(err.message).toMatch(/No run "no-such-run"/)
    model.dispose()
  })
})
