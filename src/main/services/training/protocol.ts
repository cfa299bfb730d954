import type { SerializedError } from '../../../shared/errors'
import type { TrainEvent, TrainOptionsInput, TrainResult } from '../../../shared/training'

/** Parent -> training process. Every message carries the id of the training it is about. */
export type ToTrainer =
  | { id: string; type: 'train'; projectDir: string; options: TrainOptionsInput; settings?: Record<string, unknown> | null }
  | { id: string; type: 'stop' }

/** Training process -> parent. */
export type FromTrainer =
  | { id: string; type: 'event'; event: TrainEvent }
  | { id: string; type: 'result'; result: TrainResult }
  | { id: string; type: 'error'; error: SerializedError }

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
