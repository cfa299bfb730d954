import { open, readFile, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { AppError } from '../../../shared/errors'
import { isProcessAlive } from '../../pid'

export const LOCK_FILE = '.lock'

interface LockInfo {
  pid: number
  host: string
  since: string
}


/**
 * Takes the project's lock for this process. A lock held by a live process on this host is
 * refused ("open elsewhere"); one whose process is gone (a crash) is recovered.
 */
export async function acquireLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE)
  const mine: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(JSON.stringify(mine))
      await fh.close()
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let held: LockInfo | null = null
    try {
      held = JSON.parse(await readFile(path, 'utf8')) as LockInfo
    } catch {
      held = null // unreadable or half-written lock: treat as stale
    }
    if (held && held.pid === process.pid && held.host === mine.host) return
    if (held && held.host !== mine.host)
      throw new AppError('PROJECT_LOCKED', `This project is open on another computer (${held.host}, process ${held.pid}, since ${held.since}).`, `Close it there first. If that computer crashed, delete ${path} by hand.`)
    if (held && isProcessAlive(held.pid))
      throw new AppError('PROJECT_LOCKED', `This project is open elsewhere: process ${held.pid} has had it open since ${held.since}.`, 'Close it in the other window or command first, then try again.')
    await rm(path, { force: true }) // stale: its process is gone
  }
  throw new AppError('PROJECT_LOCKED', `Could not take the lock ${path}: another process keeps taking it.`, 'Close other Classifier Studio windows on this project and try again.')
}

export async function releaseLock(dir: string): Promise<void> {
  const path = join(dir, LOCK_FILE)
  try {
    const held = JSON.parse(await readFile(path, 'utf8')) as LockInfo
    if (held.pid === process.pid && held.host === hostname()) await rm(path, { force: true })
  } catch {
    // no lock or not ours: nothing to release
  }
}
