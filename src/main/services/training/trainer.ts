import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { AppError, deserializeError, parseOrThrow } from '../../../shared/errors'
import { TrainOptions, type TrainEvent, type TrainOptionsInput, type TrainResult } from '../../../shared/training'
import { isFromTrainer, type FromTrainer, type ToTrainer } from './protocol'
import { runsDir } from '../../ml/training/runs'
import { loadDatasetIndexShared } from '../datasets/cache'
import { projectKey } from '../projects/identity'
import { holderAlive, lockHolder, type LockInfo } from '../projects/lock'

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

/** The URL of the compiled CLI's own file, defined only in its bundle (scripts/build-node.mjs). */
declare const CLI_BUNDLE_URL: string | undefined

/** Where the worker entry is: the bundle's compiled worker, the .ts source (run through tsx) or a built .js next to it. */
function workerEntry(): { file: string; execArgv: string[] } {
  if (typeof CLI_BUNDLE_URL !== 'undefined') return { file: fileURLToPath(new URL('./train-worker.js', CLI_BUNDLE_URL)), execArgv: [] }
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
  /** Set once the run has reported its end ('done', result or error): only its lock is left to release. */
  ending: boolean
  /** Resolves when the run's claim and lock are gone. */
  closed: Promise<void>
}
const active = new Map<string, Active>()
const starting = new Set<string>()

const LOCK_FILE = '.training.lock'


/**
 * One training per project across processes (CLI, studio, app): runs/.training.lock records its
 * holder as the project lock does (pid, host, start time, boot), so a lock whose pid was reused
 * by another process, or that was written before a reboot, is stale (services/projects/lock.ts
 * `holderAlive`), not "training forever". A refusal names the lock file and how to recover.
 */
async function acquireLock(projectDir: string): Promise<() => Promise<void>> {
  const dir = runsDir(projectDir)
  await mkdir(dir, { recursive: true })
  const file = join(dir, LOCK_FILE)
  const mine = lockHolder()
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written in full under a temporary name, then hard-linked into place: the lock file appears
    // atomically with its pid, so a concurrent starter never reads an empty one and takes it as stale.
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(tmp, JSON.stringify({ ...mine, startedAt: mine.since }))
    try {
      await link(tmp, file)
      return () => rm(file, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const text = await readFile(file, 'utf8').catch(() => '')
      let held: Partial<LockInfo> & { startedAt?: string } = {}
      try {
        held = JSON.parse(text) as typeof held
      } catch {
        /* torn or damaged lock file: stale */
      }
      const since = held?.since ?? held?.startedAt ?? 'an unknown time'
      if (held && typeof held.host === 'string' && held.host !== mine.host && Number.isInteger(held.pid))
        throw new AppError(
          'PROJECT_LOCKED',
          `A training of ${projectDir} is running on another computer (${held.host}, process ${held.pid}, since ${since}); its lock is ${file}.`,
          `Wait for it to finish or stop it there. If it is not running any more (that computer crashed), delete ${file} and start the training again.`,
        )
      // This process's own lock is stale here: its in-process claims (active/starting) already
      // refused a second training of this project.
      const own = held?.pid === process.pid && (!held.start || !mine.start || held.start === mine.start)
      if (held && typeof held.pid === 'number' && !own && holderAlive({ pid: held.pid, start: held.start, boot: held.boot }))
        throw new AppError(
          'PROJECT_LOCKED',
          `A training is already running for ${projectDir}: process ${held.pid} has held its lock ${file} since ${since}.`,
          `Wait for it to finish or stop it (Stop in the Train view, or Ctrl+C where classifier-studio train runs); one training per project at a time. If no training is running (process ${held.pid} is not Classifier Studio), delete ${file} and start again.`,
        )
      // Stale: remove it unless it changed meanwhile (another starter took it over first).
      if ((await readFile(file, 'utf8').catch(() => '')) === text) await rm(file, { force: true })
    } finally {
      await rm(tmp, { force: true })
    }
  }
  throw new AppError('PROJECT_LOCKED', `Could not take the training lock ${file} of ${projectDir}: another process keeps taking it.`, `Stop other trainings of this project and try again. If none is running, delete ${file}.`)
}

/**
 * What every training needs from the dataset, checked here in milliseconds before a training
 * process is started (which takes seconds): imported images, at least 2 classes, and images in
 * the training split. (No validation images is allowed: the run then monitors the training loss
 * and says so in its log.)
 */
async function checkTrainable(dir: string): Promise<void> {
  const idx = await loadDatasetIndexShared(dir)
  const importHint = `Import a folder of images first (one sub-folder per class): classifier-studio import ${dir} <folder>, or Import in the Data view.`
  if (!idx || idx.items.length === 0) throw new AppError('INVALID_INPUT', `The project at ${dir} has no images to train on.`, importHint)
  let usable = 0
  const perSplit = { train: 0, validation: 0, test: 0 }
  for (const it of idx.items)
    if (!it.excluded && !it.stale) {
      usable++
      perSplit[it.split]++
    }
  if (usable === 0)
    throw new AppError('INVALID_INPUT', `All ${idx.items.length} images of the project at ${dir} are excluded from training (or their source files changed since the import).`, 'Include some images again in the Data view (or classifier-studio import the changed folder again), then train.')
  if (idx.classes.length < 2)
    throw new AppError('INVALID_INPUT', `Training needs at least 2 classes; the dataset of ${dir} has ${idx.classes.length}${idx.classes.length ? ` (${idx.classes.join(', ')})` : ''}.`, 'Import images of at least two labels (one sub-folder per label) into this project, then train.')
  if (perSplit.train === 0)
    throw new AppError(
      'INVALID_INPUT',
      `None of the ${usable} images of ${dir} is in the training split (validation ${perSplit.validation}, test ${perSplit.test}), so there is nothing to train on.`,
      'Import into a new project with smaller --val/--test shares (their sum below 1), or put images into a train/ folder of the source.',
    )
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
 * Trains in a separate, crash-isolated process. `options` are TrainOptions' input
 * ({recipe, base, model, epochs, batchSize, learningRate, optimizer, fineTuneFrom, augment:
 * 'flip,rotate=15' | {...}, earlyStop: PATIENCE | {...}, baseWeights, seed, resumeRunId}).
 * Resolves with the run's result (also after a stop: `result.stopped`); rejects with an AppError
 * when the options are invalid, the project is already training, training failed, or the
 * process crashed / ran out of memory (the caller stays up; the run can be resumed).
 */
export async function startTraining(projectDir: string, options: TrainOptionsInput = {}, ctl: StartTrainingControl = {}): Promise<TrainResult> {
  const dir = resolve(projectDir)
  parseOrThrow(TrainOptions, options, 'training options', 'See `classifier-studio train --help` for the options and their ranges.')
  const key = projectKey(dir) // in-process claims by identity: a symlink and the real path are one project
  // A start right after the previous run's 'done' event (a recipe, the studio's next click) waits
  // for that run to release its lock instead of being refused as if it were still training.
  const previous = active.get(key)
  if (previous?.ending) await previous.closed
  if (active.has(key) || starting.has(key)) throw new AppError('PROJECT_LOCKED', `A training is already running for ${dir}.`, 'Stop it or wait for it to finish.')
  // Claimed before the first await, so of two starts in this process the first one wins.
  starting.add(key)
  let release: () => Promise<void>
  let proc: TrainerProcess
  try {
    await checkTrainable(dir)
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
  let closed: () => void = () => {}
  const entry: Active = { id, proc, stop, ending: false, closed: new Promise<void>((r) => (closed = r)) }
  active.set(key, entry)
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
          if (m.event.type === 'done') entry.ending = true
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
          reject(deserializeError(m.error))
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
    entry.ending = true
    ctl.signal?.removeEventListener('abort', onAbort)
    // The claim goes after the lock file: a start in between waits on `closed` (above), so this
    // release cannot remove the lock file of the next run.
    try {
      await release()
    } finally {
      active.delete(key)
      closed()
    }
  }
}
