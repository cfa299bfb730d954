import type { SerializedTrainError, TrainEvent, TrainOptionsInput, TrainResult } from '../../shared/training'
import { translateError } from '../../shared/errors'

/** Parent -> training process. Every message carries the id of the training it is about. */
export type ToTrainer =
  | { id: string; type: 'train'; projectDir: string; options: TrainOptionsInput; settings?: Record<string, unknown> | null }
  | { id: string; type: 'stop' }

/** Training process -> parent. */
export type FromTrainer =
  | { id: string; type: 'event'; event: TrainEvent }
  | { id: string; type: 'result'; result: TrainResult }
  | { id: string; type: 'error'; error: SerializedTrainError }

export function isFromTrainer(m: unknown): m is FromTrainer {
  if (!m || typeof m !== 'object') return false
  const t = (m as { type?: unknown; id?: unknown }).type
  return typeof (m as { id?: unknown }).id === 'string' && (t === 'event' || t === 'result' || t === 'error')
}

export function isToTrainer(m: unknown): m is ToTrainer {
  if (!m || typeof m !== 'object') return false
  const t = (m as { type?: unknown }).type
  return typeof (m as { id?: unknown }).id === 'string' && (t === 'train' || t === 'stop')
}

export function serializeTrainError(err: unknown): SerializedTrainError {
  if (err instanceof Error) {
    // Errors with an app code keep it and their hint; a raw Node error (ENOSPC while writing a
    // checkpoint, EACCES, …) becomes a message naming the file and the fix, with its code (DISK_FULL, …).
    const e = translateError(err)
    return { name: err.name, message: e.message, stack: err.stack, code: e.code, hint: e.hint }
  }
  return { name: 'Error', message: String(err) }
}
