import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { AppError } from '../../../shared/errors'
import { TrainOptions, type TrainEvent, type TrainOptionsInput, type TrainResult } from '../../../shared/training'
import { isFromTrainer, type FromTrainer, type ToTrainer } from '../../worker/protocol'
import { runsDir } from '../../ml/training/runs'
import { isProcessAlive } from '../../pid'
import { projectKey } from '../projects/identity'

export { listRuns, loadRun, loadRunModel, readMetrics, type RunModel, type LoadedRun, type RunConfig } from '../../ml/training/runs'
export { parseAugment, formatAugment, TrainOptions } from '../../../shared/training'
export { augmentPreview } from './preview'

/** The training process as the wrapper sees it; Electron swaps in utilityProcess behind this. */
export interface TrainerProcess {
  readonly pid: number | undefined
  send(m: ToTrainer): void
  onMessage(cb: (m: FromTrainer) => void): void
  onExit(cb: (code: number | null, signal: string | null) => void): void
  /** Last lines the process wrote to stderr (for crash reports). */
  stderrTail(): string
  kill(signal?: NodeJS.Signals): void
}

/** Where the worker entry is: the .ts source (run through tsx) or a built .js next to it. */
function workerEntry(): { file: string; execArgv: string[] } {
  const ts = fileURLToPath(new URL('../../worker/train-worker.ts', import.meta.url))
  if (existsSync(ts)) return { file: ts, execArgv: ['--import', 'tsx'] }
  const js = fileURLToPath(new URL('../../worker/train-worker.js', import.meta.url))
  return { file: js, execArgv: [] }
}

/** Starts a training process (child_process.fork). The only place a process is spawned. */
export function spawnTrainer(): TrainerProcess {
  const { file, execArgv } = workerEntry()
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'advanced', env: process.env })
  let tail = ''
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-4000)
  })
  return {
    pid: child.pid,
    send: (m) => {
      if (child.connected) child.send(m)
    },
    onMessage: (cb) => child.on('message', (m) => isFromTrainer(m) && cb(m)),
    onExit: (cb) => child.on('exit', (code, signal) => cb(code, signal)),
    stderrTail: () => tail,
    kill: (signal) => child.kill(signal),
  }
}

let spawnImpl: () => TrainerProcess = spawnTrainer
/** Lets the Electron shell (utilityProcess) or tests replace how the trainer is started. */
export function setTrainerSpawner(fn: () => TrainerProcess): void {
  spawnImpl = fn
}

interface Active {
  id: string
  proc: TrainerProcess
  stop: () => void
}
const active = new Map<string, Active>()
const starting = new Set<string>()

const LOCK_FILE = '.training.lock'


/** One training per project across processes (CLI, studio, app): a lock file with the owner's pid. */
async function acquireLock(projectDir: string): Promise<() => Promise<void>> {
  const dir = runsDir(projectDir)
  await mkdir(dir, { recursive: true })
  const file = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    // Written in full under a temporary name, then hard-linked into place: the lock file appears
    // atomically with its pid, so a concurrent starter never reads an empty one and takes it as stale.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(tmp, JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() }))
    try {
      await link(tmp, file)
      return () => rm(file, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      let pid = 0
      try {
        pid = (JSON.parse(await readFile(file, 'utf8')) as { pid: number }).pid
      } catch {
        /* torn lock file: treat as stale */
      }
      if (pid && isProcessAlive(pid)) throw new AppError('PROJECT_LOCKED', `A training is already running for ${projectDir} (process ${pid}).`, 'Wait for it to finish or stop it first; one training per project at a time.')
      await rm(file, { force: true })
    } finally {
      await rm(tmp, { force: true })
    }
  }
  throw new AppError('PROJECT_LOCKED', `Could not take the training lock of ${projectDir}.`, 'Try again.')
}

export function isTraining(projectDir: string): boolean {
  return active.has(projectKey(projectDir))
}

/** Asks the project's running training to stop after the current batch. False when none runs here. */
export function stopTraining(projectDir: string): boolean {
  const a = active.get(projectKey(projectDir))
  if (!a) return false
  a.stop()
  return true
}

export interface StartTrainingControl {
  onEvent?: (e: TrainEvent) => void
  /** Abort = stop after the current batch (same as stopTraining). */
  signal?: AbortSignal
}

/**
 * Trains in a separate, crash-isolated process. `options` has the CLI flags' shape
 * ({recipe, base, model, epochs, batch, lr, optimizer, fineTuneFrom, fineTuneLr, augment:
 * 'flip,rotate=15' | {...}, earlyStop: PATIENCE | {...}, baseWeights, seed, resume: RUN_ID}).
 * Resolves with the run's result (also after a stop: `result.stopped`); rejects with an AppError
 * when the options are invalid, the project is already training, training failed, or the
 * process crashed / ran out of memory (the caller stays up; the run can be resumed).
 */
export async function startTraining(projectDir: string, options: TrainOptionsInput = {}, ctl: StartTrainingControl = {}): Promise<TrainResult> {
  const dir = resolve(projectDir)
  const parsed = TrainOptions.safeParse(options)
  if (!parsed.success)
    throw new AppError('INVALID_INPUT', `Invalid training options: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`, 'See `classifier-studio train --help` for the options and their ranges.')
  const key = projectKey(dir) // in-process claims by identity: a symlink and the real path are one project
  if (active.has(key) || starting.has(key)) throw new AppError('PROJECT_LOCKED', `A training is already running for ${dir}.`, 'Stop it or wait for it to finish.')
  // Claimed before the first await, so of two starts in this process the first one wins.
  starting.add(key)
  let release: () => Promise<void>
  let proc: TrainerProcess
  try {
    release = await acquireLock(dir)
    try {
      proc = spawnImpl()
    } catch (e) {
      await release()
      throw e
    }
  } finally {
    starting.delete(key)
  }
  const id = randomBytes(8).toString('hex')
  let stopSent = false
  const stop = () => {
    if (stopSent) return
    stopSent = true
    proc.send({ id, type: 'stop' })
  }
  active.set(key, { id, proc, stop })
  const onAbort = () => stop()
  if (ctl.signal?.aborted) stop()
  ctl.signal?.addEventListener('abort', onAbort)
  let runId: string | null = null
  try {
    return await new Promise<TrainResult>((resolvePromise, reject) => {
      let settled = false
      proc.onMessage((m) => {
        if (m.id !== id || settled) return
        if (m.type === 'event') {
          if (m.event.type === 'start') runId = m.event.runId
          try {
            ctl.onEvent?.(m.event)
          } catch {
            /* a listener's error must not end the training */
          }
        } else if (m.type === 'result') {
          settled = true
          resolvePromise(m.result)
        } else {
          settled = true
          const e = m.error
          const code = e.code && ['INVALID_INPUT', 'NOT_FOUND', 'PROJECT_LOCKED', 'PROJECT_DAMAGED', 'CANCELLED', 'BAD_REQUEST'].includes(e.code) ? (e.code as 'INVALID_INPUT') : 'INTERNAL'
          const err = new AppError(code, e.message, e.hint)
          if (e.stack) err.stack = e.stack
          reject(err)
        }
      })
      proc.onExit((code, signal) => {
        if (settled) return
        settled = true
        const tail = proc.stderrTail()
        const oom = /heap out of memory|Allocation failed|out of memory/i.test(tail) || signal === 'SIGKILL' && /oom/i.test(tail)
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
        const what = oom ? 'ran out of memory' : 'crashed'
        const resume = runId ? ` Run ${runId} keeps its last finished epoch; resume it with --resume ${runId}.` : ''
        const last = tail.trim().split('\n').slice(-3).join(' | ')
        reject(
          new AppError(
            'INTERNAL',
            `The training process ${what} (${how}).${last ? ` Last output: ${last}` : ''}`,
            (oom ? 'Use a smaller batch (--batch) or input size. ' : '') + (resume || 'Nothing was lost in the project; start the training again.'),
          ),
        )
      })
      proc.send({ id, type: 'train', projectDir: dir, options })
    })
  } finally {
    ctl.signal?.removeEventListener('abort', onAbort)
    active.delete(key)
    await release()
  }
}
