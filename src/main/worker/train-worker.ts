/**
 * The training process entry. Run as a child process (child_process.fork; Electron's
 * utilityProcess in the app): receives one 'train' message, streams 'event' messages, ends with
 * 'result' or 'error', then exits. A 'stop' message stops after the current batch.
 */
import { liveControllers, serveTrainer, type Port } from './serve'

function processPort(): Port {
  if (!process.send) throw new Error('train-worker must run as a child process with an IPC channel (child_process.fork).')
  return {
    send: (m) => {
      if (process.connected) process.send!(m)
    },
    on: (l) => process.on('message', l),
    close: () => {
      if (process.connected) process.disconnect()
    },
  }
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
else if (process.send) {
  // Ctrl+C in a terminal reaches the whole process group, this process included: the parent
  // (the CLI) turns it into a 'stop' message, so the run ends after its batch and stays
  // resumable instead of dying mid-write.
  process.on('SIGINT', () => undefined)
  // The parent went away (the command was killed): stop like Stop does, after the current
  // batch, so the run is left stopped and resumable; never outlive the parent by much (a run
  // cut later shows as interrupted, resumable from its last checkpoint).
  process.on('disconnect', () => {
    if (liveControllers.size === 0) process.exit(0)
    for (const c of liveControllers) c.abort()
    setTimeout(() => process.exit(130), 10_000).unref()
  })
  void serveTrainer(processPort())
}
