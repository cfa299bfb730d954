import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { RecentProject } from '../../../shared/contract'
import { appDataDir } from '../appdata'
import { writeFileAtomic } from './store'

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

async function writeRecent(projects: Entry[]): Promise<void> {
  await writeFileAtomic(recentPath(), JSON.stringify({ projects }, null, 2) + '\n')
}

export async function touchRecent(dir: string, name: string): Promise<void> {
  const rest = (await readRecent()).filter((p) => p.dir !== dir)
  await writeRecent([{ dir, name, openedAt: new Date().toISOString() }, ...rest].slice(0, MAX_RECENT))
}

export async function forgetRecent(dir: string): Promise<void> {
  await writeRecent((await readRecent()).filter((p) => p.dir !== dir))
}

export type { RecentProject }
