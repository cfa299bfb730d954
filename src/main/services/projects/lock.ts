import { readFileSync } from 'node:fs'
import { link, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { AppError } from '../../../shared/errors'
import { isProcessAlive } from '../../platform/process-alive'
import { projectPath } from './identity'

export const LOCK_FILE = '.lock'

export interface LockInfo {
  pid: number
  host: string
  since: string
  /** When the holder process started (Linux: field 22 of /proc/<pid>/stat), so a reused pid is told apart. */
  start?: string
  /** The boot the holder ran in (Linux): a lock from before a reboot is stale whatever its pid. */
  boot?: string
}

/**
 * When process `pid` started, as an opaque string that changes when the pid is reused: on Linux
 * the start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null where unknown
 * (another system, or no such process).
 */
export function processStartTime(pid: number): string | null {
  if (process.platform !== 'linux') return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (the command name) is in parentheses and may hold spaces or ')': fields 3.. follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const start = fields[22 - 3]
    return start && /^\d+$/.test(start) ? start : null
  } catch {
    return null
  }
}

function bootId(): string | null {
  if (process.platform !== 'linux') return null
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null
  } catch {
    return null
  }
}

function me(): LockInfo {
  const start = processStartTime(process.pid)
  const boot = bootId()
  return { pid: process.pid, host: hostname(), since: new Date().toISOString(), ...(start ? { start } : {}), ...(boot ? { boot } : {}) }
}

/**
 * Who this process is, as a lock file records it (pid, host, since, and on Linux its start time
 * and boot), for other lock files (the training lock) to be checked with `holderAlive`.
 */
export function lockHolder(): LockInfo {
  return me()
}

/** Whether the lock's holder is this very process (same pid and, where recorded, same start time). */
function isMine(held: LockInfo, mine: LockInfo): boolean {
  return held.host === mine.host && held.pid === mine.pid && (!held.start || !mine.start || held.start === mine.start) && (!held.boot || !mine.boot || held.boot === mine.boot)
}

/**
 * Whether the process that wrote a lock on this host still runs: its pid is alive and, where the
 * lock recorded them, the pid's start time and the boot are the same (else the pid was reused).
 */
export function holderAlive(held: Pick<LockInfo, 'pid' | 'start' | 'boot'>): boolean {
  if (!Number.isInteger(held.pid) || held.pid <= 0) return false
  if (held.boot) {
    const boot = bootId()
    if (boot && boot !== held.boot) return false
  }
  if (!isProcessAlive(held.pid)) return false
  if (held.start) {
    const now = processStartTime(held.pid)
    if (now && now !== held.start) return false
  }
  return true
}

async function readLock(path: string): Promise<LockInfo | null> {
  try {
    const held = JSON.parse(await readFile(path, 'utf8')) as LockInfo
    return held && typeof held === 'object' && typeof held.pid === 'number' && typeof held.host === 'string' ? held : null
  } catch {
    return null // unreadable or damaged lock: stale (it is written complete before it appears)
  }
}

/**
 * Creates `path` with `data` unless it exists (false then). Written in full under a temporary
 * name, then hard-linked into place, so the lock appears atomically with its content and a
 * concurrent opener never reads a half-written one; where the file system has no hard links
 * (FAT, some network shares), an exclusive create instead.
 */
async function createExclusive(path: string, data: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await writeFile(tmp, data)
    await link(tmp, path)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
  } finally {
    await rm(tmp, { force: true })
  }
  try {
    await writeFile(path, data, { flag: 'wx' })
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

/** Removes temporary lock files left by an opener killed between writing and linking one. */
async function removeLeftovers(path: string): Promise<void> {
  const dir = dirname(path)
  const re = new RegExp(`^${basename(path).replace(/\./g, '\\.')}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`)
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names) {
    const m = re.exec(name)
    if (m && Number(m[1]) !== process.pid && !isProcessAlive(Number(m[1]))) await rm(join(dir, name), { force: true })
  }
}

/**
 * Takes the project's lock for this process. A lock held by a live process on this host is
 * refused ("open elsewhere"); one whose process is gone (a crash), or whose pid now belongs to
 * another process (a reused pid, told apart by its start time), is recovered. The lock lives in
 * the project's real folder, so every spelling of the project (a symlink) shares it.
 */
export async function acquireLock(dir: string): Promise<void> {
  const path = join(projectPath(dir), LOCK_FILE)
  const mine = me()
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written in full under a temporary name, then hard-linked into place: the lock appears
    // atomically with its content, so a concurrent opener never reads a half-written one.
    if (await createExclusive(path, JSON.stringify(mine))) return removeLeftovers(path)
    const held = await readLock(path)
    if (held && isMine(held, mine)) return
    if (held && held.host !== mine.host)
      throw new AppError(
        'PROJECT_LOCKED',
        `This project is open on another computer (${held.host}, process ${held.pid}, since ${held.since}); its lock is ${path}.`,
        `Close it there first. If it is not open there any more (that computer crashed), delete ${path} and open the project again.`,
      )
    if (held && holderAlive(held))
      throw new AppError(
        'PROJECT_LOCKED',
        `This project is open elsewhere: process ${held.pid} has had it open since ${held.since} (lock ${path}).`,
        `Close the project in the other Classifier Studio window or command, then try again. If no Classifier Studio is running, delete ${path} and try again.`,
      )
    // Stale (its process is gone, its pid was reused, or it is unreadable): remove it unless it
    // changed meanwhile (another opener took it over first).
    const again = await readLock(path)
    if (JSON.stringify(again) === JSON.stringify(held)) await rm(path, { force: true })
  }
  throw new AppError(
    'PROJECT_LOCKED',
    `Could not take the lock ${path}: another process keeps taking it.`,
    `Close other Classifier Studio windows and commands on this project and try again. If none is running, delete ${path}.`,
  )
}

export async function releaseLock(dir: string): Promise<void> {
  const path = join(projectPath(dir), LOCK_FILE)
  const held = await readLock(path)
  if (held && isMine(held, me())) await rm(path, { force: true })
}
