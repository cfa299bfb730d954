import { utilityProcess } from 'electron'
import { join } from 'node:path'
import type { TrainerProcess } from './services/training'
import { isFromTrainer } from './services/training/protocol'

/** The training process in the app: an Electron utilityProcess (crash-isolated, no UI access). */
export function spawnUtilityTrainer(): TrainerProcess {
  const child = utilityProcess.fork(join(__dirname, 'train-worker.js'), [], { serviceName: 'Classifier Studio training', stdio: ['ignore', 'inherit', 'pipe'] })
  let tail = ''
  child.stderr?.on('data', (d: Buffer) => {
    tail = (tail + d.toString('utf8')).slice(-4000)
  })
  return {
    get pid() {
      return child.pid
    },
    send: (m) => child.postMessage(m),
    onMessage: (cb) => child.on('message', (m: unknown) => isFromTrainer(m) && cb(m)),
    onExit: (cb) => child.on('exit', (code) => cb(code, null)),
    stderrTail: () => tail,
    kill: () => void child.kill(),
  }
}
