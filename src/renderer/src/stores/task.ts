import { reactive } from 'vue'
import type { CallOptions, Progress } from '../../../shared/contract'
import { newCallId } from '../../../shared/client'
import { useApi } from '../bridge'
import { toUiError, type UiError } from './projects'

/** The state of one long call (import, evaluate, predict, export): progress, cancel, error. */
export interface TaskState {
  running: boolean
  progress: Progress | null
  error: UiError | null
  callId: string | null
  startedAt: number
  cancelled: boolean
}

export interface Task {
  state: TaskState
  /** Runs `work` with a fresh callId and progress wiring; errors land in state.error. */
  run<T>(work: (opts: CallOptions) => Promise<T>): Promise<T | undefined>
  cancel(): Promise<void>
  clear(): void
}

export function createTask(): Task {
  const state = reactive<TaskState>({ running: false, progress: null, error: null, callId: null, startedAt: 0, cancelled: false })

  async function run<T>(work: (opts: CallOptions) => Promise<T>): Promise<T | undefined> {
    const callId = newCallId()
    Object.assign(state, { running: true, progress: null, error: null, callId, startedAt: Date.now(), cancelled: false })
    try {
      return await work({ callId, onProgress: (p) => (state.progress = p) })
    } catch (err) {
      const code = (err as { code?: string }).code
      state.error = code === 'CANCELLED' || state.cancelled ? { message: 'Cancelled.', hint: 'Nothing was changed by the part that did not finish. Start again when ready.' } : toUiError(err)
      return undefined
    } finally {
      state.running = false
      state.callId = null
    }
  }

  async function cancel() {
    if (!state.callId) return
    state.cancelled = true
    await useApi().cancel(state.callId)
  }

  function clear() {
    Object.assign(state, { running: false, progress: null, error: null, callId: null, cancelled: false })
  }

  return { state, run, cancel, clear }
}

/** True for the error a domain not wired yet answers with. */
export function isNotImplemented(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'NOT_IMPLEMENTED'
}
