import * as tf from '@tensorflow/tfjs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { compareRuns, evaluate } from '../../src/main/services/evaluation'
import type { CompareResult } from '../../src/shared/compare'
import type { EvaluatedItem } from '../../src/shared/evaluation'
import { runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'
import { writeShapesDataset } from '../helpers/shapes'

// Two short CNN runs of a generated 3-class project (one epoch, then four), trained by the real
// CLI, compared by the service and by `compare --json`.
const tmp = tempDir('cs-compare-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const project = join(tmp.dir, 'shapes')
let runA = ''
let runB = ''

async function train(epochs: number): Promise<string> {
  const r = await runCli(['train', project, '--recipe', 'cnn', '--model', 'cats-dogs-cnn', '--epochs', String(epochs), '--batch', '8', '--augment', 'none', '--json'], env)
  expect(r.code, r.stderr).toBe(0)
  return r.json().runId as string
}

beforeAll(async () => {
  await tf.setBackend('cpu')
  await writeShapesDataset(join(tmp.dir, 'data'), 20)
  expect((await runCli(['new', project, '--json'], env)).code).toBe(0)
  expect((await runCli(['import', project, join(tmp.dir, 'data'), '--size', '32', '--val', '0.5', '--json'], env)).code).toBe(0)
  runA = await train(1)
  runB = await train(4)
}, 600_000)
afterAll(() => tmp.cleanup())

/** The changed images as a plain loop over both runs' own evaluations finds them. */
function expectedChanges(a: EvaluatedItem[], b: EvaluatedItem[]) {
  const predB = new Map(b.map((it) => [it.id, it]))
  return a
    .filter((x) => predB.get(x.id)!.predLabel !== x.predLabel)
    .map((x) => ({ id: x.id, label: x.trueLabel, a: x.predLabel, b: predB.get(x.id)!.predLabel, confA: x.confidence, confB: predB.get(x.id)!.confidence }))
}

describe('compare two runs', () => {
  let result: CompareResult

  it('lists exactly the images whose prediction differs, with counts that add up', async () => {
    result = await compareRuns(project, { runA, runB, split: 'validation' })
    const evA = await evaluate(project, { runId: runA, split: 'validation', force: true })
    const evB = await evaluate(project, { runId: runB, split: 'validation', force: true })
    const want = expectedChanges(evA.items, evB.items)
    expect(want.length).toBeGreaterThan(0)
    const got = result.changed.map((c) => ({ id: c.id, label: c.label, a: c.a.predicted, b: c.b.predicted, confA: c.a.confidence, confB: c.b.confidence }))
    expect([...got].sort((p, q) => p.id - q.id)).toEqual(want.sort((p, q) => p.id - q.id))
    const c = result.counts
    expect(c.images).toBe(evA.items.length)
    expect(c.fixed + c.broke + c.bothWrong).toBe(c.changed)
    expect(c.changed).toBe(want.length)
    expect(c.fixed).toBe(want.filter((w) => w.a !== w.label && w.b === w.label).length)
    expect(c.broke).toBe(want.filter((w) => w.a === w.label && w.b !== w.label).length)
    // Accuracy moves by exactly what was fixed minus what broke.
    expect(Math.round((result.b.accuracy - result.a.accuracy) * c.images)).toBe(c.fixed - c.broke)
    expect(result.changed.every((x) => x.file.startsWith(join(tmp.dir, 'data')))).toBe(true)
  }, 300_000)

  it('carries each run\'s settings, curves and evaluation', () => {
    expect(result.a.runId).toBe(runA)
    expect(result.b.runId).toBe(runB)
    expect(result.a.epochs.map((e) => e.epoch)).toEqual([1])
    expect(result.b.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4])
    expect(result.b.settings).toMatchObject({ recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 4, batchSize: 8, augment: 'none' })
    for (const side of [result.a, result.b]) {
      expect(side.confusionMatrix.flat().reduce((s, n) => s + n, 0)).toBe(result.counts.images)
      expect(side.macroF1).toBeGreaterThanOrEqual(0)
      expect(side.macroF1).toBeLessThanOrEqual(1)
    }
  })

  it('refuses the same run on both sides, and names the runs there are for a wrong one', async () => {
    await expect(compareRuns(project, { runA, runB: runA })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('two different runs') })
    await expect(compareRuns(project, { runA, runB: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND', hint: expect.stringContaining(runB) })
  })

  it('compare --json prints the same comparison; the text names both runs and the counts', async () => {
    const r = await runCli(['compare', project, runA, runB, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const j = r.json() as CompareResult
    expect(j.counts).toEqual(result.counts)
    expect(j.changed.map((c) => [c.id, c.a.predicted, c.b.predicted])).toEqual(result.changed.map((c) => [c.id, c.a.predicted, c.b.predicted]))
    expect(j.a.accuracy).toBeCloseTo(result.a.accuracy, 12)
    const text = await runCli(['compare', project, runA, runB], env)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain(runA)
    expect(text.stdout).toContain(runB)
    expect(text.stdout).toContain(`${result.counts.changed} of ${result.counts.images} validation images changed their prediction`)
    const usage = await runCli(['compare', project, runA], env)
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('Missing the second run id')
  }, 300_000)
})
