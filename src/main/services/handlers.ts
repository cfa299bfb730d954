import pkg from '../../../package.json'
import type { Handlers } from './dispatch'
import { appDataDir } from './appdata'
import * as projects from './projects'
import { importDataset } from './datasets'
import { datasetOverview, datasetPage, excludeItems } from './dataset-view'
import { chooseModel, modelCatalog, modelSummary } from './models'
import { AppError } from '../../shared/errors'

const notYet = (what: string) => async (): Promise<never> => {
  throw new AppError('NOT_IMPLEMENTED', `${what} is not implemented yet.`, 'Use the CLI (classifier-studio --help) for what this version can do.')
}

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
    datasets: {
      import: ({ dir, source, options }, ctx) =>
        importDataset(dir, source, options ?? {}, {
          signal: ctx.signal,
          onProgress: (p) => ctx.onProgress({ phase: p.phase, done: p.done, total: p.total, rate: p.rate, etaSeconds: p.etaSeconds ?? undefined }),
        }),
      overview: ({ dir }) => datasetOverview(dir),
      items: ({ dir, ...q }) => datasetPage(dir, q),
      exclude: ({ dir, ids, excluded }) => excludeItems(dir, ids, excluded),
      augmentPreview: notYet('Augmentation preview'),
    },
    models: {
      catalog: async () => modelCatalog(),
      summary: (q) => modelSummary(q),
      choose: ({ dir, spec }) => chooseModel(dir, spec),
    },
    training: { start: notYet('Training'), stop: notYet('Training'), status: notYet('Training'), runs: notYet('Runs'), run: notYet('Runs') },
    evaluation: { evaluate: notYet('Evaluation'), predict: notYet('Prediction'), predictUploads: notYet('Prediction') },
    export: { run: notYet('Export') },
    examples: { list: notYet('Examples') },
  }
}
