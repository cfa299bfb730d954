import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProject } from '../../src/main/services/projects'
import { importDataset } from '../../src/main/services/datasets'
import { listRuns, setTrainerSpawner, spawnTrainer, startTraining, stopTraining, type TrainerProcess } from '../../src/main/services/training'
import type { TrainEvent } from '../../src/shared/training'

let root: string
let project: string

/** Two classes of 8x8 PNGs: a bright band left or right on noise. */
async function writeImages(dir: string, perClass: number) {
  let seed = 7
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  for (const [ci, name] of ['left', 'right'].entries()) {
    mkdirSync(join(dir, name), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(8 * 8 * 3)
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) {
          const on = ci === 0 ? x < 3 : x > 4
          for (let c = 0; c < 3; c++) px[(y * 8 + x) * 3 + c] = Math.round((on ? 210 : 40) + (rnd() - 0.5) * 50)
        }
      await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(join(dir, name, `${i}.png`))
    }
  }
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'cs-trainw-'))
  process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
  const src = join(root, 'images')
  await writeImages(src, 40)
  project = join(root, 'proj')
  await createProject(project)
  await importDataset(project, src, { size: 8, val: 0.25 })
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('training service (child process)', () => {
  it('trains end to end in a separate process, reports the backend, and holds the project lock meanwhile', async () => {
    await expect(startTraining(project, { epochs: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    const events: TrainEvent[] = []
    const running = startTraining(project, { recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 2, batchSize: 8, seed: 1 }, { onEvent: (e) => events.push(e) })
    await expect(startTraining(project, { recipe: 'cnn' })).rejects.toMatchObject({ code: 'PROJECT_LOCKED' })
    const r = await running
    expect(stopTraining(project)).toBe(false)
    expect(r.epochs).toHaveLength(2)
    expect(r.backend).toBe('wasm')
    const start = events.find((e) => e.type === 'start')
    expect(start).toMatchObject({ type: 'start', runId: r.runId, backend: 'wasm' })
    expect((start as { reason: string }).reason.length).toBeGreaterThan(10)
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(2)
    expect(r.epochs[1].valAccuracy).toBeGreaterThanOrEqual(0.8)
  })

  it('kill -9 of the training process mid-epoch is reported, and the project reopens and resumes', async () => {
    let proc: TrainerProcess | null = null
    setTrainerSpawner(() => (proc = spawnTrainer()))
    let runId = ''
    let killed = false
    const p = startTraining(project, { recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 50, batchSize: 4, seed: 5 }, {
      onEvent: (e) => {
        if (e.type === 'start') runId = e.runId
        // Kill during the second epoch: after the first epoch's checkpoint, at a batch event.
        if (e.type === 'batch' && e.epoch === 2 && !killed) {
          killed = true
          process.kill(proc!.pid!, 'SIGKILL')
        }
      },
    })
    await expect(p).rejects.toThrow(/crashed \(was killed by SIGKILL\)/)
    setTrainerSpawner(spawnTrainer)
    const run = (await listRuns(project)).find((r) => r.runId === runId)!
    expect(run).toMatchObject({ status: 'interrupted', hasLast: true, epochsDone: 1 })
    const firstEpoch = JSON.parse(readFileSync(join(project, 'runs', runId, 'metrics.jsonl'), 'utf8').split('\n')[0])
    const r = await startTraining(project, { resumeRunId: runId, epochs: 3 })
    expect(r.runId).toBe(runId)
    expect(r.epochs.map((m) => m.epoch)).toEqual([1, 2, 3])
    expect(r.epochs[0]).toEqual(firstEpoch)
    expect((await listRuns(project)).find((x) => x.runId === runId)!.status).toBe('completed')
  })
})
