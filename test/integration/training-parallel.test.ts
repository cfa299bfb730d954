import * as tf from '@tensorflow/tfjs'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import type { ParallelStep } from '../../src/main/ml/training/parallel-step'
import { listRuns, runDir } from '../../src/main/ml/training/runs'
import { runTraining, type TrainDeps } from '../../src/main/ml/training/train'
import type { TrainEvent } from '../../src/shared/training'
import { bandsDataset } from '../unit/training-fixtures'

// runTraining on the wasm backend with data-parallel training threads: the number asked for
// is the number started and used, it is stored with the run, the threads end with the run, and
// a thread that dies fails the run with a message saying so while leaving it resumable.

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'cs-parallel-'))
  dirs.push(d)
  return d
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
beforeAll(async () => {
  await initBackend('wasm')
})

function tinyCnn(shape: [number, number, number], k: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: shape, filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.batchNormalization(),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dropout({ rate: 0.25 }),
      tf.layers.dense({ units: k, activation: 'softmax' }),
    ],
  })
}

const data = bandsDataset({ perClass: { train: 12, validation: 4 }, seed: 3 })
const opts = { recipe: 'cnn', batchSize: 8, learningRate: 0.01, seed: 7 } as const

/** A deps object that keeps the run's training threads for the test to look at. */
function watched(onStart?: (p: ParallelStep) => void): { deps: TrainDeps; threads: () => ParallelStep } {
  let seen: ParallelStep | null = null
  const deps: TrainDeps = {
    data,
    buildCnn: tinyCnn,
    onThreads: (p) => {
      seen = p
      if (p) onStart?.(p)
    },
  }
  return { deps, threads: () => seen! }
}

describe('data-parallel training in runTraining (wasm)', () => {
  it('starts the number of threads asked for, trains every batch on all of them, stores the number and ends them with the run', async () => {
    const dir = tmp()
    const { deps, threads } = watched()
    const events: TrainEvent[] = []
    const before = tf.memory().numTensors
    const r = await runTraining(dir, { ...opts, epochs: 2, threads: 3 }, { deps, onEvent: (e) => events.push(e) })
    expect(tf.memory().numTensors).toBe(before)
    expect(r.epochs).toHaveLength(2)
    const p = threads()
    expect(p.size).toBe(3)
    const report = p.report()
    expect(new Set(report.map((t) => t.threadId)).size).toBe(3)
    // 24 images in batches of 8, two epochs: 6 steps, each split into 3 slices.
    expect(report.map((t) => t.slices)).toEqual([6, 6, 6])
    expect(p.workers.every((w) => w.threadId === -1)).toBe(true)
    expect(events.find((e) => e.type === 'start')).toMatchObject({ threads: 3 })
    expect(readFileSync(join(runDir(dir, r.runId), 'log.txt'), 'utf8')).toMatch(/Training threads: 3 \(threads 3 asked for/)
    expect((await listRuns(dir)).find((x) => x.runId === r.runId)).toMatchObject({ status: 'completed', threads: 3 })
  })

  it('trains on this thread alone with threads 1', async () => {
    const dir = tmp()
    const { deps, threads } = watched()
    const r = await runTraining(dir, { ...opts, epochs: 1, threads: 1 }, { deps })
    expect(threads()).toBeNull()
    expect((await listRuns(dir)).find((x) => x.runId === r.runId)).toMatchObject({ status: 'completed', threads: 1 })
  })

  it('fails the run with a clear message when a thread dies, leaves it interrupted and resumable, and ends the other threads', async () => {
    const dir = tmp()
    let victim: ParallelStep | null = null
    const { deps, threads } = watched((p) => (victim = p))
    const onEvent = (e: TrainEvent) => {
      // After the first epoch is checkpointed, one thread dies (as if the OS killed it).
      if (e.type === 'epoch' && e.epoch === 1) void victim!.workers[1]!.terminate()
    }
    const failed = runTraining(dir, { ...opts, epochs: 3, threads: 2 }, { deps, onEvent })
    await expect(failed).rejects.toMatchObject({
      code: 'INTERNAL',
      message: expect.stringMatching(/^Training thread 2 of 2 \(worker thread id \d+\) exited with code 1 during training\. Run \S+ was interrupted after 1 finished epoch\(s\) of 3\.$/),
      hint: expect.stringContaining('--resume'),
    })
    expect(threads().workers.every((w) => w.threadId === -1)).toBe(true)
    const run = (await listRuns(dir))[0]!
    expect(run).toMatchObject({ status: 'interrupted', epochsDone: 1, hasLast: true, threads: 2 })

    const resumed = await runTraining(dir, { resumeRunId: run.runId, threads: 1 }, { deps: watched().deps })
    expect(resumed.epochs.map((m) => m.epoch)).toEqual([1, 2, 3])
    expect((await listRuns(dir))[0]).toMatchObject({ runId: run.runId, status: 'completed', threads: 1 })
  })
})
