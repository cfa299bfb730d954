/**
 * The training process's message loop, without the process wiring (train-worker.ts): one
 * 'train' message runs one training, its events and its result or error go back as messages,
 * and a 'stop' message (also one that arrives before its 'train') stops after the current batch.
 * Tests run it in-process behind a fake TrainerProcess.
 */
import { readProject } from '../services/projects/store'
import { projectDataSource } from '../services/training/project-data'
import { runTraining } from '../ml/training/train'
import { AppError, serializeError } from '../../shared/errors'
import { isToTrainer, type FromTrainer, type ToTrainer } from '../services/training/protocol'

export interface Port {
  send(m: FromTrainer): void
  on(listener: (m: unknown) => void): void
  close(): void
}

/** The trainings of this process, for a parent that goes away (aborted: stop after the batch). */
export const liveControllers = new Set<AbortController>()

export async function serveTrainer(port: Port): Promise<void> {
  const controllers = new Map<string, AbortController>()
  /** Stops that arrived before their 'train' message (a stop pressed while this process started). */
  const stoppedEarly = new Set<string>()
  let busy = false
  port.on((raw) => {
    if (!isToTrainer(raw)) return
    const msg = raw as ToTrainer
    if (msg.type === 'stop') {
      const c = controllers.get(msg.id)
      if (c) c.abort()
      else stoppedEarly.add(msg.id)
      return
    }
    if (busy) {
      port.send({ id: msg.id, type: 'error', error: serializeError(new AppError('PROJECT_LOCKED', 'This training process is already training.')) })
      return
    }
    busy = true
    const ac = new AbortController()
    controllers.set(msg.id, ac)
    liveControllers.add(ac)
    if (stoppedEarly.delete(msg.id)) ac.abort()
    void (async () => {
      try {
        let settings = msg.settings ?? null
        if (settings == null) settings = await readProject(msg.projectDir).then((p) => p.settings as unknown as Record<string, unknown>).catch(() => null)
        const result = await runTraining(msg.projectDir, msg.options, {
          signal: ac.signal,
          onEvent: (event) => port.send({ id: msg.id, type: 'event', event }),
          deps: { settings, data: await projectDataSource(msg.projectDir) },
        })
        port.send({ id: msg.id, type: 'result', result })
      } catch (err) {
        port.send({ id: msg.id, type: 'error', error: serializeError(err) })
      } finally {
        controllers.delete(msg.id)
        liveControllers.delete(ac)
        busy = false
        // Let the IPC queue drain, then leave: one training per process keeps memory bounded.
        setTimeout(() => port.close(), 50)
      }
    })()
  })
}
