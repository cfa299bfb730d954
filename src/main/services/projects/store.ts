import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ProjectFile } from '../../../shared/project'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { writeFileAtomic } from '../../platform/fs-atomic'
import { projectKey } from './identity'

export const PROJECT_FILE = 'project.json'

export async function readProject(dir: string): Promise<ProjectFile> {
  const file = join(dir, PROJECT_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new AppError('NOT_A_PROJECT', `No project at ${dir}: ${file} does not exist.`, 'Pick a folder created by Classifier Studio, or create a new project there.')
    throw err
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new AppError('PROJECT_DAMAGED', `${file} is damaged: it is not valid JSON (${(err as Error).message}).`, 'Restore it from a backup or fix it by hand; Classifier Studio left it untouched.')
  }
  return parseOrThrow(ProjectFile, json, file, 'Restore it from a backup or fix the named fields; Classifier Studio left it untouched.', 'PROJECT_DAMAGED')
}

const queues = new Map<string, Promise<unknown>>()

/**
 * Read-modify-write of project.json, serialised per project (by its identity, so a symlink and
 * the real path share one queue) so concurrent updates never lose one another.
 */
export async function updateProject(dir: string, mutate: (p: ProjectFile) => void): Promise<ProjectFile> {
  const key = projectKey(dir)
  const prev = queues.get(key) ?? Promise.resolve()
  const next = prev.catch(() => undefined).then(async () => {
    const project = await readProject(dir)
    mutate(project)
    project.updatedAt = new Date().toISOString()
    const checked = ProjectFile.parse(project)
    await writeFileAtomic(join(dir, PROJECT_FILE), JSON.stringify(checked, null, 2) + '\n')
    return checked
  })
  queues.set(key, next)
  try {
    return await next
  } finally {
    if (queues.get(key) === next) queues.delete(key)
  }
}
