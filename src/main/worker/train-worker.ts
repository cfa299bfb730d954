/**
 * The training process entry. Run as a child process (child_process.fork; Electron's
 * utilityProcess in the app): receives one 'train' message, streams 'event' messages, ends with
 * 'result' or 'error', then exits. A 'stop' message stops after the current batch.
 */
import { readProject } from '../services/projects/store'
import { runTraining } from '../ml/training/train'
import { isToTrainer, serializeTrainError, type FromTrainer, type ToTrainer } from './protocol'

interface Port {
  send(m: FromTrainer): void
  on(listener: (m: unknown) => void): void
  close(): void
}

function processPort(): Port {
  if (!process.send) throw new Error('train-worker must run as a child process with an IPC channel (child_process.fork).')
  return {
    send: (m) => process.send!(m),
    on: (l) => process.on('message', l),
    close: () => process.disconnect?.(),
  }
}

export async function serveTrainer(port: Port): Promise<void> {
  const controllers = new Map<string, AbortController>()
  let busy = false
  port.on((raw) => {
    if (!isToTrainer(raw)) return
    const msg = raw as ToTrainer
    if (msg.type === 'stop') {
      controllers.get(msg.id)?.abort()
      return
    }
    if (busy) {
      port.send({ id: msg.id, type: 'error', error: { name: 'Error', code: 'PROJECT_LOCKED', message: 'This training process is already training.' } })
      return
    }
    busy = true
    const ac = new AbortController()
    controllers.set(msg.id, ac)
    void (async () => {
      try {
        let settings = msg.settings ?? null
        if (settings == null) settings = await readProject(msg.projectDir).then((p) => p.settings as unknown as Record<string, unknown>).catch(() => null)
        const result = await runTraining(msg.projectDir, msg.options, {
          signal: ac.signal,
          onEvent: (event) => port.send({ id: msg.id, type: 'event', event }),
          deps: { settings },
        })
        port.send({ id: msg.id, type: 'result', result })
      } catch (err) {
        port.send({ id: msg.id, type: 'error', error: serializeTrainError(err) })
      } finally {
        controllers.delete(msg.id)
        busy = false
        // Let the IPC queue drain, then leave: one training per process keeps memory bounded.
        setTimeout(() => port.close(), 50)
      }
    })()
  })
}

/** Electron's utilityProcess gives the child a parentPort instead of process.send. */
interface ParentPort {
  postMessage(m: unknown): void
  on(event: 'message', l: (e: { data: unknown }) => void): void
}

function utilityPort(parent: ParentPort): Port {
  return {
    send: (m) => parent.postMessage(m),
    on: (l) => parent.on('message', (e) => l(e.data)),
    close: () => process.exit(0),
  }
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort
if (parentPort) void serveTrainer(utilityPort(parentPort))
else if (process.send) void serveTrainer(processPort())
