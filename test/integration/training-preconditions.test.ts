/**
 * training.start answers what the dataset lacks in milliseconds, before any training process is
 * started (which takes seconds): no images, fewer than 2 classes, nothing in the training split.
 * The training lock (runs/.training.lock) tells a reused pid from its holder by start time, and a
 * refusal names the lock file to delete.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { closeProject, createProject } from '../../src/main/services/projects'
import { importDataset } from '../../src/main/services/datasets'
import { processStartTime } from '../../src/main/services/projects/lock'
import { setTrainerSpawner, spawnTrainer, startTraining, type TrainerProcess } from '../../src/main/services/training'
import type { FromTrainer, ToTrainer } from '../../src/main/services/training/protocol'
import { serializeError, type SerializedError } from '../../src/shared/errors'
import type { TrainResult } from '../../src/shared/training'
import { writePngs } from '../helpers/dataset-check'
import { isolatedHome, tempDir } from '../helpers/env'

let tmp: ReturnType<typeof tempDir>
let home: ReturnType<typeof isolatedHome>
let spawned = 0
let sleeper: ChildProcess | null = null
const hasProcStat = existsSync('/proc/self/stat')

/** A trainer that answers at once with an empty result (the lock tests need a start that gets through). */
function fakeTrainer(): TrainerProcess {
  spawned++
  let onMsg: (m: FromTrainer) => void = () => {}
  return {
    pid: 1,
    send: (m: ToTrainer) => {
      if (m.type === 'train')
        setImmediate(() =>
          onMsg({ id: m.id, type: 'result', result: { runId: 'fake', backend: 'cpu', recipe: 'cnn', epochs: [], best: { epoch: 0, valAccuracy: null, monitor: 'val_loss', value: null }, stoppedEarly: false, stopped: false, stillImproving: false, weightsNote: null } }),
        )
    },
    onMessage: (cb) => (onMsg = cb),
    onExit: () => {},
    stderrTail: () => '',
    kill: () => {},
  }
}

async function project(name: string, classes: string[] | null, layout: 'flat' | 'validation-only' = 'flat'): Promise<string> {
  const p = (await createProject(join(tmp.dir, name))).dir
  if (classes) {
    const src = join(tmp.dir, `${name}-src`)
    await writePngs(layout === 'flat' ? src : join(src, 'validation'), classes, 4, 8, 1)
    await importDataset(p, src, { size: 8 })
  }
  await closeProject(p)
  return p
}

beforeAll(() => {
  tmp = tempDir('cs-train-pre-')
  home = isolatedHome()
  setTrainerSpawner(fakeTrainer)
})
afterAll(() => {
  setTrainerSpawner(spawnTrainer)
  tmp.cleanup()
  home.cleanup()
})
afterEach(() => {
  sleeper?.kill()
  sleeper = null
})

describe('training preconditions, before a process is started', () => {
  it('no images, one class, nothing in the training split: INVALID_INPUT with a hint, before any process is started', async () => {
    const empty = await project('empty', null)
    const one = await project('one', ['cats'])
    const valOnly = await project('val-only', ['a', 'b'], 'validation-only')
    spawned = 0
    await expect(startTraining(empty, { recipe: 'cnn' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: `The project at ${empty} has no images to train on.`,
      hint: expect.stringContaining(`Import a folder of images first (one sub-folder per class): classifier-studio import ${empty} <folder>`),
    })
    await expect(startTraining(one, { recipe: 'cnn' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: `Training needs at least 2 classes; the dataset of ${one} has 1 (cats).`, hint: expect.stringContaining('at least two labels') })
    await expect(startTraining(valOnly, {})).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/^None of the 8 images of .* is in the training split \(validation 8, test 0\)/) })
    // A resume needs the images too.
    await expect(startTraining(empty, { resumeRunId: '20260101-000000-cnn-abcd' })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(spawned).toBe(0)
    // No lock or run folder was left behind.
    expect(existsSync(join(empty, 'runs', '.training.lock'))).toBe(false)
  })

  it('a damaged dataset index is PROJECT_DAMAGED naming the file, before a process is started', async () => {
    const p = await project('damaged', ['a', 'b'])
    writeFileSync(join(p, 'dataset', 'index.json'), '{"version": 1, "items": [')
    spawned = 0
    await expect(startTraining(p, {})).rejects.toMatchObject({ code: 'PROJECT_DAMAGED', message: expect.stringContaining(join(p, 'dataset', 'index.json')) })
    expect(spawned).toBe(0)
  })

  it('a project with images of 2 classes gets through to the training process', async () => {
    const p = await project('ok', ['a', 'b'])
    spawned = 0
    await expect(startTraining(p, { recipe: 'cnn' })).resolves.toMatchObject({ runId: 'fake' })
    expect(spawned).toBe(1)
    expect(existsSync(join(p, 'runs', '.training.lock'))).toBe(false)
  })

  it("a start on the previous run's 'done' event (a recipe's next stage, the studio's next click) waits for its lock instead of PROJECT_LOCKED", async () => {
    const p = await project('next', ['a', 'b'])
    const lock = join(p, 'runs', '.training.lock')
    const result: Omit<TrainResult, 'runId'> = { backend: 'cpu', recipe: 'cnn', epochs: [], best: { epoch: 0, valAccuracy: null, monitor: 'val_loss', value: null }, stoppedEarly: false, stopped: false, stillImproving: false, weightsNote: null }
    // Like the real process: 'done' goes out first, the result message a moment later.
    const trainer = (runId: string): TrainerProcess => {
      let onMsg: (m: FromTrainer) => void = () => {}
      return {
        ...fakeTrainer(),
        send: (m: ToTrainer) => {
          if (m.type !== 'train') return
          setImmediate(() => onMsg({ id: m.id, type: 'event', event: { type: 'done', result: { runId, ...result } } }))
          setTimeout(() => onMsg({ id: m.id, type: 'result', result: { runId, ...result } }), 30)
        },
        onMessage: (cb) => (onMsg = cb),
      }
    }
    let n = 0
    setTrainerSpawner(() => trainer(`run-${++n}`))
    try {
      let second: Promise<unknown> | null = null
      let lockSeenBySecond: unknown = null
      const first = await startTraining(p, { recipe: 'cnn' }, {
        onEvent: (e) => {
          if (e.type === 'done') second = startTraining(p, { recipe: 'cnn' }, { onEvent: () => (lockSeenBySecond = JSON.parse(readFileSync(lock, 'utf8'))) })
        },
      })
      expect(first).toMatchObject({ runId: 'run-1' })
      await expect(second).resolves.toMatchObject({ runId: 'run-2' })
      // The second run held a lock of its own (the first run's release did not remove it) and released it.
      expect(lockSeenBySecond).toMatchObject({ pid: process.pid })
      expect(existsSync(lock)).toBe(false)
    } finally {
      setTrainerSpawner(fakeTrainer)
    }
  })
})

describe('training lock', () => {
  /** A live process that is not Classifier Studio: the pid a stale lock may now point to. */
  const liveOtherProcess = (): number => {
    sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    return sleeper.pid!
  }

  it('refuses a lock held by a live training process, naming the lock file to delete', async () => {
    const p = await project('held', ['a', 'b'])
    const pid = liveOtherProcess()
    const lock = join(p, 'runs', '.training.lock')
    mkdirSync(join(p, 'runs'), { recursive: true })
    writeFileSync(lock, JSON.stringify({ pid, host: hostname(), since: '2026-01-01T00:00:00Z', ...(hasProcStat ? { start: processStartTime(pid) } : {}) }))
    spawned = 0
    const err = await startTraining(p, {}).catch((e: { code: string; message: string; hint: string }) => e)
    expect(err).toMatchObject({ code: 'PROJECT_LOCKED', message: `A training is already running for ${p}: process ${pid} has held its lock ${lock} since 2026-01-01T00:00:00Z.` })
    expect((err as { hint: string }).hint).toContain(`delete ${lock} and start again`)
    expect(spawned).toBe(0)
    expect(JSON.parse(readFileSync(lock, 'utf8')).pid).toBe(pid) // left alone
  })

  it.skipIf(!hasProcStat)('takes over a lock whose pid is alive but was reused (start time differs), and records its own start time', async () => {
    const p = await project('reused', ['a', 'b'])
    const pid = liveOtherProcess()
    const lock = join(p, 'runs', '.training.lock')
    mkdirSync(join(p, 'runs'), { recursive: true })
    writeFileSync(lock, JSON.stringify({ pid, host: hostname(), since: '2026-01-01T00:00:00Z', start: String(Number(processStartTime(pid)) + 12345) }))
    // Seen while the training runs: this process's pid and start time.
    let held: unknown = null
    setTrainerSpawner(() => {
      held = JSON.parse(readFileSync(lock, 'utf8'))
      return fakeTrainer()
    })
    try {
      await expect(startTraining(p, {})).resolves.toMatchObject({ runId: 'fake' })
    } finally {
      setTrainerSpawner(fakeTrainer)
    }
    expect(held).toMatchObject({ pid: process.pid, host: hostname(), start: processStartTime(process.pid) })
    expect(existsSync(lock)).toBe(false)
  })

  it('takes over a lock of a dead process or a damaged lock file; an old {pid, startedAt} lock still works', async () => {
    const p = await project('dead', ['a', 'b'])
    const lock = join(p, 'runs', '.training.lock')
    mkdirSync(join(p, 'runs'), { recursive: true })
    const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' })
    await new Promise((r) => dead.on('exit', r))
    writeFileSync(lock, JSON.stringify({ pid: dead.pid, startedAt: '2026-01-01T00:00:00Z' }))
    await expect(startTraining(p, {})).resolves.toMatchObject({ runId: 'fake' })
    writeFileSync(`${lock}.x`, '{"pid": 12')
    renameSync(`${lock}.x`, lock)
    await expect(startTraining(p, {})).resolves.toMatchObject({ runId: 'fake' })
    // An old lock of a live process is still refused (no start time recorded: the pid is all there is).
    const pid = liveOtherProcess()
    writeFileSync(lock, JSON.stringify({ pid, startedAt: '2026-01-01T00:00:00Z' }))
    await expect(startTraining(p, {})).rejects.toMatchObject({ code: 'PROJECT_LOCKED', message: expect.stringContaining(`since 2026-01-01T00:00:00Z`) })
  })
})

describe('errors from the training process', () => {
  it('a raw Node error in the process is translated there (a full disk is DISK_FULL naming the file) and keeps its code here', async () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', path: '/p/runs/r/checkpoints/.last.tmp-1/weights.bin' })
    const sent = serializeError(enospc)
    expect(sent).toMatchObject({ code: 'DISK_FULL', message: 'The disk is full: could not write /p/runs/r/checkpoints/.last.tmp-1/weights.bin (ENOSPC).', hint: expect.stringContaining('Free some space') })
    expect(serializeError(Object.assign(new Error('no'), { code: 'INVALID_INPUT', hint: 'h' }))).toMatchObject({ code: 'INVALID_INPUT', message: 'no', hint: 'h' })
    const p = await project('errors', ['a', 'b'])
    for (const error of [sent, serializeError(Object.assign(new Error('refused'), { code: 'FORBIDDEN' })), { name: 'Error', message: 'odd', code: 'ENOTACODE' } as unknown as SerializedError]) {
      setTrainerSpawner(() => {
        const t = fakeTrainer()
        let onMsg: (m: FromTrainer) => void = () => {}
        return { ...t, onMessage: (cb) => (onMsg = cb), send: (m: ToTrainer) => void (m.type === 'train' && setImmediate(() => onMsg({ id: m.id, type: 'error', error }))) }
      })
      try {
        const expected = error.message === 'odd' ? 'INTERNAL' : error.code
        await expect(startTraining(p, {})).rejects.toMatchObject({ name: 'AppError', code: expected, message: error.message })
      } finally {
        setTrainerSpawner(fakeTrainer)
      }
    }
  })
})
