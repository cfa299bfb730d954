import pkg from '../../../package.json'
import type { Handlers } from './dispatch'
import { appDataDir } from './appdata'
import * as projects from './projects'

export interface ShellInfo {
  shell: 'electron' | 'web'
  /** Where projects created by name (web studio) are put. */
  workspaceDir: string
}

const version = pkg.version

/** The composition of every domain's service behind the contract. */
export function createHandlers(shell: ShellInfo): Handlers {
  return {
    app: {
      info: async () => ({ version, dataDir: appDataDir(), workspaceDir: shell.workspaceDir, shell: shell.shell }),
    },
    projects: {
      create: ({ parent, name }) => projects.createNamedProject(parent ?? shell.workspaceDir, name),
      open: ({ dir }) => projects.openProject(dir),
      close: ({ dir }) => projects.closeProject(dir),
      recent: () => projects.recentProjects(),
      rename: ({ dir, name }) => projects.renameProject(dir, name),
      forget: ({ dir }) => projects.forgetProject(dir),
      saveState: ({ dir, key, value }) => projects.saveProjectState(dir, key, value),
    },
  }
}
