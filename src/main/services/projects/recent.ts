import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { RecentProject } from '../../../shared/contract'
import { appDataDir } from '../../platform/app-data'
import { projectKey, projectPath } from './identity'
import { writeFileAtomic } from '../../platform/fs-atomic'

const RecentFile = z.object({
  projects: z.array(z.object({ dir: z.string(), name: z.string(), openedAt: z.string() })),
})
type Entry = z.infer<typeof RecentFile>['projects'][number]

const MAX_RECENT = 20

function recentPath(): string {
  return join(appDataDir(), 'recent.json')
}

export async function readRecent(): Promise<Entry[]> {
  try {
    const parsed = RecentFile.safeParse(JSON.parse(await readFile(recentPath(), 'utf8')))
    return parsed.success ? parsed.data.projects : []
  } catch {
    return [] // missing or unreadable recent list: start empty, it is only a convenience
  }
}

let queue: Promise<unknown> = Promise.resolve()

/** Read-modify-writes of the recent list, one at a time in this process so none is lost. */
function serial(fn: () => Promise<void>): Promise<void> {
  const next = queue.catch(() => undefined).then(fn)
  queue = next
  return next
}

async function writeRecent(projects: Entry[]): Promise<void> {
  await writeFileAtomic(recentPath(), JSON.stringify({ projects }, null, 2) + '\n')
}

/** Puts the project first in the recent list, under its real path; other spellings of it go. */
export function touchRecent(dir: string, name: string): Promise<void> {
  const key = projectKey(dir)
  return serial(async () => {
    const rest = (await readRecent()).filter((p) => projectKey(p.dir) !== key)
    await writeRecent([{ dir: projectPath(dir), name, openedAt: new Date().toISOString() }, ...rest].slice(0, MAX_RECENT))
  })
}

/** Removes every spelling of the project from the recent list. */
export function forgetRecent(dir: string): Promise<void> {
  const key = projectKey(dir)
  return serial(async () => writeRecent((await readRecent()).filter((p) => projectKey(p.dir) !== key)))
}

/** The recent list with one entry per project (the first, newest, of its spellings). */
export async function readRecentUnique(): Promise<Entry[]> {
  const seen = new Set<string>()
  return (await readRecent()).filter((p) => {
    const key = projectKey(p.dir)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

export type { RecentProject }
