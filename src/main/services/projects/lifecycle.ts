import { access, readdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { ProjectInfo, RecentProject } from '../../../shared/contract'
import { ProjectName } from '../../../shared/contract'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { DEFAULT_SETTINGS, PROJECT_SCHEMA_VERSION, type ProjectFile } from '../../../shared/project'
import { acquireLock, releaseLock } from './lock'
import { projectPath } from './identity'
import { forgetRecent, readRecentUnique, touchRecent } from './recent'
import { PROJECT_FILE, readProject, updateProject } from './store'
import { writeFileAtomic } from '../../platform/fs-atomic'
import { makeDirs } from '../../platform/make-dirs'
import { enclosingProject } from '../ownership'

function info(dir: string, p: ProjectFile): ProjectInfo {
  return { dir, name: p.name, createdAt: p.createdAt, updatedAt: p.updatedAt, settings: p.settings, state: p.state }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

/** Creates a project in `dir` (which must be missing or empty) and opens it. */
export async function createProject(dir: string, name?: string): Promise<ProjectInfo> {
  dir = resolve(dir)
  const projectName = name ?? dir.split(/[\\/]/).filter(Boolean).pop() ?? 'Untitled'
  if (await exists(join(dir, PROJECT_FILE)))
    throw new AppError('PROJECT_EXISTS', `A project already exists at ${dir}.`, 'Open it instead, or choose another folder.')
  if (await exists(dir)) {
    const entries = (await readdir(dir)).filter((e) => !e.startsWith('.'))
    if (entries.length > 0)
      throw new AppError('PROJECT_EXISTS', `${dir} is not empty (${entries.length} item(s)); a new project needs an empty or new folder.`, 'Choose a new folder name; Classifier Studio never writes into folders holding other files.')
  }
  const inside = await enclosingProject(dirname(projectPath(dir)))
  if (inside) throw new AppError('FORBIDDEN', `Cannot create a project at ${dir}: it is inside the project ${inside}, and a project never goes inside another one.`, 'Choose a location outside any project.')
  await makeDirs(join(dir, 'runs'))
  const now = new Date().toISOString()
  const project: ProjectFile = { schemaVersion: PROJECT_SCHEMA_VERSION, name: projectName, createdAt: now, updatedAt: now, settings: { ...DEFAULT_SETTINGS }, state: {} }
  await writeFileAtomic(join(dir, PROJECT_FILE), JSON.stringify(project, null, 2) + '\n')
  return openProject(dir)
}

/** Creates `<parent>/<name>` after checking the name cannot escape the parent folder. */
export async function createNamedProject(parent: string, name: string): Promise<ProjectInfo> {
  const checked = parseOrThrow(ProjectName, name, 'project name', 'Pick a simple name such as "Cats vs dogs".')
  return createProject(join(resolve(parent), checked), checked)
}

/**
 * Opens a project: validates project.json, takes the lock, records it in the recent list. The
 * project is known by its real path from here on (a symlink opens the folder it points to).
 */
export async function openProject(dir: string): Promise<ProjectInfo> {
  dir = projectPath(dir)
  const project = await readProject(dir)
  await acquireLock(dir)
  await touchRecent(dir, project.name)
  return info(dir, project)
}

export async function closeProject(dir: string): Promise<void> {
  await releaseLock(projectPath(dir))
}

export async function recentProjects(): Promise<RecentProject[]> {
  const list = await readRecentUnique()
  return Promise.all(list.map(async (p) => ({ ...p, available: await exists(join(p.dir, PROJECT_FILE)) })))
}

export async function renameProject(dir: string, name: string): Promise<ProjectInfo> {
  dir = projectPath(dir)
  const p = await updateProject(dir, (project) => {
    project.name = name
  })
  await touchRecent(dir, name)
  return info(dir, p)
}

/** Removes a project from the recent list only; its folder and files stay untouched. */
export async function forgetProject(dir: string): Promise<RecentProject[]> {
  await forgetRecent(dir)
  return recentProjects()
}

/** Autosave of per-domain UI/project state: one key at a time, written atomically. */
export async function saveProjectState(dir: string, key: string, value: unknown): Promise<ProjectInfo> {
  dir = projectPath(dir)
  const p = await updateProject(dir, (project) => {
    project.state[key] = value
  })
  return info(dir, p)
}

export async function projectInfo(dir: string): Promise<ProjectInfo> {
  dir = projectPath(dir)
  return info(dir, await readProject(dir))
}
