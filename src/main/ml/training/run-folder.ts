import type { TrainEvent, TrainOptions, TrainResult } from '../../../shared/training'
import type { Built } from './build-model'
import type { LoopState } from './loop'
import { stillImproving } from './recipes'
import { appendRunLog, createRunDir, writeMetrics, writeRunStatus, type RunConfig } from './runs'

/** What a run's status.json and result report besides the loop's state; read when they are written. */
export interface RunFacts {
  runId: string
  backend: string
  opts: TrainOptions
  weightsNote: string | null
  threads: number
}

type RunState = 'running' | 'stopped' | 'completed' | 'failed' | 'interrupted'

function improving(f: RunFacts, st: LoopState | null, stopped: boolean): boolean {
  return !!st && stillImproving({ bestEpoch: st.checkpoint.bestEpoch + 1, epochsDone: st.epochsDone, epochsPlanned: f.opts.epochs, stopped, stoppedEarly: st.stoppedEarly })
}

/** status.json for a state of the loop (null: no finished epoch). */
export function runStatus(f: RunFacts, status: RunState, st: LoopState | null) {
  const b = st ? st.checkpoint.bestEpoch : -1
  return { status, backend: f.backend, epochsDone: st?.epochsDone ?? 0, best: st && b >= 0 ? { epoch: b + 1, valAccuracy: st.history[b]?.valAccuracy ?? null } : null, stoppedEarly: st?.stoppedEarly ?? false, stillImproving: status === 'completed' && improving(f, st, false), weightsNote: f.weightsNote, threads: f.threads }
}

/** The result a run returns (and sends as its 'done' event). */
export function runResult(f: RunFacts, st: LoopState | null, stopped: boolean): TrainResult {
  const { opts } = f
  const b = st ? st.checkpoint.bestEpoch : -1
  const monitor = st?.monitor ?? (opts.earlyStop ? opts.earlyStop.monitor : opts.checkpointMonitor)
  return {
    runId: f.runId,
    backend: f.backend,
    recipe: opts.recipe,
    epochs: st?.history ?? [],
    best: { epoch: b + 1, valAccuracy: st && b >= 0 ? (st.history[b]?.valAccuracy ?? null) : null, monitor, value: st?.checkpoint.best ?? null },
    stoppedEarly: st?.stoppedEarly ?? false,
    stopped,
    stillImproving: improving(f, st, stopped),
    weightsNote: f.weightsNote,
  }
}

/** The run's log: sent as events at once, written to the run's log.txt once its folder exists (lines from before are kept until then). */
export class RunLog {
  private pending: string[] = []
  /** Whether the run folder exists (from then on failures are written into it). */
  ready = false
  constructor(
    private projectDir: string,
    private runId: string,
    private emit: (e: TrainEvent) => void,
  ) {}
  log = (message: string) => {
    this.emit({ type: 'log', message })
    if (this.ready) void appendRunLog(this.projectDir, this.runId, message).catch(() => undefined)
    else this.pending.push(message)
  }
  /** The folder now exists: the backend line, then the lines kept so far. */
  async open(backendLine: string): Promise<void> {
    this.ready = true
    await appendRunLog(this.projectDir, this.runId, backendLine)
    for (const m of this.pending) await appendRunLog(this.projectDir, this.runId, m)
  }
}

export interface RunFolderInput {
  projectDir: string
  facts: RunFacts
  built: Built
  imageShape: [number, number, number]
  labels: string[]
  settings: Record<string, unknown> | null
  backendReason: string
  resumeConfig: RunConfig | null
  resumeState: LoopState | null
  runLog: RunLog
  /** Where the loop state of the latest checkpointed epoch is kept: a resume's, from here on. */
  progress: { lastState: LoopState | null }
}

/**
 * Creates <P>/runs/<runId>/ (config.json, log, metrics of a resumed run) and marks it running;
 * a resume keeps its config, with the new number of epochs.
 */
export async function openRunFolder(r: RunFolderInput): Promise<void> {
  const { projectDir, facts, built, resumeConfig, resumeState, runLog } = r
  const { runId, opts } = facts
  const config: RunConfig = resumeConfig
    ? { ...resumeConfig, options: { ...resumeConfig.options, epochs: opts.epochs } }
    : {
        runId,
        createdAt: new Date().toISOString(),
        recipe: opts.recipe,
        options: opts,
        labels: r.labels,
        imageShape: r.imageShape,
        preprocess: built.preprocess,
        settings: r.settings,
        fromRunId: built.fromRunId,
        baseWeights: built.baseWeights,
      }
  await createRunDir(projectDir, config)
  await runLog.open(`backend: ${facts.backend} (${r.backendReason})`)
  if (resumeState) {
    r.progress.lastState = resumeState
    await writeMetrics(projectDir, runId, resumeState.history)
    runLog.log(`Resuming run ${runId} after epoch ${resumeState.epochsDone} of ${opts.epochs} (weights, learning rate ${resumeState.lr.toExponential(2)} and callbacks restored).`)
  } else if (resumeConfig) runLog.log(`Run ${runId} has no finished epoch to resume from; starting it from the beginning.`)
  await writeRunStatus(projectDir, runId, runStatus(facts, 'running', resumeState))
}
