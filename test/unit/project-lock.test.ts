/**
 * The project lock: a lock whose pid is alive but belongs to another process now (a reused pid,
 * told apart by its start time) is stale; a refused open says exactly how to recover.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { closeProject, createProject, openProject } from '../../src/main/services/projects'
import { acquireLock, holderAlive, processStartTime, releaseLock } from '../../src/main/services/projects/lock'
import { isolatedHome, tempDir } from '../helpers/env'

let tmp: ReturnType<typeof tempDir>
let home: ReturnType<typeof isolatedHome>
let sleeper: ChildProcess | null = null
beforeEach(() => {
  tmp = tempDir('cs-lock-')
  home = isolatedHome()
})
afterEach(() => {
  sleeper?.kill()
  sleeper = null
  tmp.cleanup()
  home.cleanup()
})

/** A live process that is not Classifier Studio: the pid a stale lock may now point to. */
function liveOtherProcess(): number {
  sleeper = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  return sleeper.pid!
}

const hasProcStat = existsSync('/proc/self/stat')

describe('project lock', () => {
  it('records who holds it, with its start time where the system tells it, and releases it', async () => {
    const p = await createProject(join(tmp.dir, 'p'))
    const lock = JSON.parse(readFileSync(join(p.dir, '.lock'), 'utf8'))
    expect(lock).toMatchObject({ pid: process.pid, host: hostname() })
    if (hasProcStat) expect(lock.start).toBe(processStartTime(process.pid))
    expect(readdirSync(p.dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    await closeProject(p.dir)
    expect(existsSync(join(p.dir, '.lock'))).toBe(false)
  })

  it('refuses a lock held by a live process and says how to recover, naming the lock file', async () => {
    const p = await createProject(join(tmp.dir, 'held'))
    await closeProject(p.dir)
    const pid = liveOtherProcess()
    const lockPath = join(p.dir, '.lock')
    writeFileSync(lockPath, JSON.stringify({ pid, host: hostname(), since: '2026-01-01T00:00:00Z', ...(hasProcStat ? { start: processStartTime(pid) } : {}) }))
    const err = await openProject(p.dir).then(
      () => null,
      (e: { code: string; message: string; hint: string }) => e,
    )
    expect(err).toMatchObject({ code: 'PROJECT_LOCKED', message: expect.stringContaining(`process ${pid}`) })
    expect(err!.hint).toContain('Close the project in the other Classifier Studio window or command')
    expect(err!.hint).toContain(`If no Classifier Studio is running, delete ${lockPath}`)
    // The lock is left alone.
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(pid)
  })

  it.skipIf(!hasProcStat)('takes over a lock whose pid is alive but was reused by an unrelated process (start time differs)', async () => {
    const p = await createProject(join(tmp.dir, 'reused'))
    await closeProject(p.dir)
    const pid = liveOtherProcess()
    const real = processStartTime(pid)
    expect(real).toMatch(/^\d+$/)
    const stale = { pid, host: hostname(), since: '2026-01-01T00:00:00Z', start: String(Number(real) + 12345) }
    expect(holderAlive(stale)).toBe(false)
    expect(holderAlive({ ...stale, start: real! })).toBe(true)
    writeFileSync(join(p.dir, '.lock'), JSON.stringify(stale))
    await expect(openProject(p.dir)).resolves.toMatchObject({ dir: p.dir })
    const lock = JSON.parse(readFileSync(join(p.dir, '.lock'), 'utf8'))
    expect(lock).toMatchObject({ pid: process.pid, start: processStartTime(process.pid) })
  })

  it.skipIf(!hasProcStat)('takes over a lock from an earlier process that had this very pid, and from before a reboot', async () => {
    const p = await createProject(join(tmp.dir, 'mine'))
    await closeProject(p.dir)
    const lockPath = join(p.dir, '.lock')
    writeFileSync(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), since: '2020-01-01T00:00:00Z', start: '1' }))
    await acquireLock(p.dir)
    expect(JSON.parse(readFileSync(lockPath, 'utf8'))).toMatchObject({ pid: process.pid, start: processStartTime(process.pid) })
    await releaseLock(p.dir)
    const pid = liveOtherProcess()
    writeFileSync(lockPath, JSON.stringify({ pid, host: hostname(), since: '2020-01-01T00:00:00Z', start: processStartTime(pid), boot: 'another-boot' }))
    await acquireLock(p.dir)
    expect(JSON.parse(readFileSync(lockPath, 'utf8')).pid).toBe(process.pid)
  })

  it('shares one lock between a symlink and the real path, and cleans temporary lock files of killed openers', async () => {
    const p = await createProject(join(tmp.dir, 'real'))
    await closeProject(p.dir)
    const link = join(tmp.dir, 'link')
    symlinkSync(p.dir, link, 'dir')
    const leftover = join(p.dir, '.lock.999999999.0badc0de.tmp')
    writeFileSync(leftover, '{}')
    await openProject(link)
    expect(existsSync(join(p.dir, '.lock'))).toBe(true)
    expect(existsSync(leftover)).toBe(false)
    await closeProject(p.dir) // closed through the other spelling: the same lock goes
    expect(existsSync(join(p.dir, '.lock'))).toBe(false)
  })
})
