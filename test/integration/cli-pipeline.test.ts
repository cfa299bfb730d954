import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'
import { SHAPE_CLASSES, writeShapesDataset } from '../helpers/shapes'

// The headless journey a user runs on a training box: new → import → train → evaluate →
// predict → export, each through the real CLI in its own process.
const tmp = tempDir('cs-pipeline-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const project = join(tmp.dir, 'shapes')
const data = join(tmp.dir, 'data')
let broken = ''

beforeAll(async () => {
  broken = await writeShapesDataset(data, 20)
})
afterAll(() => tmp.cleanup())

describe('CLI pipeline on a generated 3-class dataset', () => {
  it('new + import reports the corrupt file and splits 80/20 per class', async () => {
    expect((await runCli(['new', project, '--json'], env)).code).toBe(0)
    const r = await runCli(['import', project, data, '--size', '96', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const s = r.json()
    expect(s.total).toBe(60)
    expect(s.classes).toEqual(SHAPE_CLASSES.map((name) => ({ name, count: 20 })))
    expect(s.splits).toEqual({ train: 48, validation: 12, test: 0 })
    expect(s.skipped).toHaveLength(1)
    expect(s.skipped[0].path).toBe(broken)
    expect(s.skipped[0].reason).toMatch(/not an image/i)
  })

  it('train --json runs MobileNetV2 transfer learning and records the run', async () => {
    const r = await runCli(['train', project, '--epochs', '4', '--lr', '0.003', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const t = r.json()
    expect(t.recipe).toBe('transfer')
    expect(typeof t.backend).toBe('string')
    expect(t.epochs).toHaveLength(4)
    for (const e of t.epochs) expect(Object.keys(e)).toEqual(expect.arrayContaining(['epoch', 'loss', 'accuracy', 'valLoss', 'valAccuracy', 'lr', 'seconds', 'imagesPerSecond']))
    expect(t.epochs[3].loss).toBeLessThan(t.epochs[0].loss)
    expect(existsSync(join(project, 'runs', t.runId, 'config.json'))).toBe(true)
    expect(r.stderr).toContain('epoch 4:')
  })

  it('summary reports the dataset, the run and the model', async () => {
    const r = await runCli(['summary', project, '--json'], env)
    expect(r.code).toBe(0)
    expect(r.json()).toMatchObject({ dataset: { total: 60 }, runs: 1 })
  })

  it('evaluate --json gives a confusion matrix over the whole validation split and a report', async () => {
    const r = await runCli(['evaluate', project, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const ev = r.json()
    expect(ev.labels).toEqual([...SHAPE_CLASSES])
    const total = ev.confusionMatrix.flat().reduce((a: number, b: number) => a + b, 0)
    expect(total).toBe(12)
    const correct = ev.confusionMatrix.reduce((a: number, row: number[], i: number) => a + row[i], 0)
    expect(ev.accuracy).toBeCloseTo(correct / 12, 12)
    for (const c of SHAPE_CLASSES) expect(ev.report[c].support).toBe(4)
    expect(ev.report.macroAvg).toBeDefined()
  })

  it('predict --json on a folder answers every image and reports the bad one without stopping', async () => {
    const r = await runCli(['predict', project, join(data, 'circle'), '--top', '2', '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const preds = r.json() as { file: string; label: string; confidence: number; top: { label: string; probability: number }[]; error?: string }[]
    expect(preds).toHaveLength(21)
    const bad = preds.find((p) => p.file === broken)!
    expect(bad.error).toMatch(/not an image/i)
    const good = preds.filter((p) => !p.error)
    for (const p of good) {
      expect(p.top).toHaveLength(2)
      expect(p.label).toBe(p.top[0].label)
      expect(p.confidence).toBeCloseTo(p.top[0].probability, 12)
    }
  })

  it("predict --uncalibrated gives the model's own probabilities: the calibrated ones are them at the run's temperature", async () => {
    const runId = readdirSync(join(project, 'runs')).find((f) => !f.startsWith('.'))!
    const { temperature } = JSON.parse(readFileSync(join(project, 'runs', runId, 'calibration.json'), 'utf8')) as { temperature: number }
    expect(temperature).not.toBe(1)
    const images = join(data, 'square')
    const all = ['--top', String(SHAPE_CLASSES.length), '--json']
    type P = { file: string; top: { label: string; probability: number }[]; error?: string }
    const cal = (await runCli(['predict', project, images, ...all], env)).json() as P[]
    const raw = (await runCli(['predict', project, images, '--uncalibrated', ...all], env)).json() as P[]
    expect(raw.map((p) => p.file)).toEqual(cal.map((p) => p.file))
    for (const [i, r] of raw.entries()) {
      if (r.error) continue
      const logits = SHAPE_CLASSES.map((l) => Math.log(r.top.find((t) => t.label === l)!.probability) / temperature)
      const z = logits.reduce((a, b) => a + Math.exp(b), 0)
      for (const [k, l] of SHAPE_CLASSES.entries()) expect(cal[i].top.find((t) => t.label === l)!.probability).toBeCloseTo(Math.exp(logits[k]) / z, 5)
    }
    expect(cal.some((c, i) => Math.abs(c.top[0].probability - raw[i].top[0].probability) > 1e-4)).toBe(true)
  })

  it('export --format onnx writes a model that predicts like the app', async () => {
    const out = join(tmp.dir, 'onnx')
    const r = await runCli(['export', project, '--format', 'onnx', '--out', out, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const e = r.json()
    expect(e.format).toBe('onnx')
    expect(e.parity.images).toBe(12)
    expect(e.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(e.parity.labelAgreement).toBe(1)
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['model.onnx', 'preprocessing.json', 'labels.json', 'README.md']))
    expect(JSON.parse(readFileSync(join(out, 'labels.json'), 'utf8'))).toEqual([...SHAPE_CLASSES])
  })

  it('commands on a project without runs or with bad input fail clearly', async () => {
    const empty = join(tmp.dir, 'empty')
    await runCli(['new', empty], env)
    const ev = await runCli(['evaluate', empty], env)
    expect(ev.code).toBe(1)
    expect(ev.stderr).toMatch(/no trained run|no run|train/i)
    const missing = await runCli(['import', empty, join(tmp.dir, 'nope')], env)
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(join(tmp.dir, 'nope'))
    const badFlag = await runCli(['train', project, '--epochs', 'many'], env)
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain('--epochs expects an integer')
  })
})
