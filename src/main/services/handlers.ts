import pkg from '../../../package.json'
import { AppError } from '../../shared/errors'
import type { Handlers } from './dispatch'
import { appDataDir } from '../platform/app-data'
import * as projects from './projects'
import { importDataset } from './datasets'
import { datasetOverview, datasetPage, excludeItems } from './datasets/view'
import { nearDuplicates, setLabel } from './datasets'
import { reviewDataset } from './review'
import { chooseModel, modelCatalog, modelSummary } from './models'
import { augmentPreview, listRuns, loadRun } from './training'
import { runRecipeInBackground, startInBackground, stopInBackground, trainingStatus } from './training/session'
import { compareRuns, evaluate, predict, saliencyBatch, type SaliencyTarget } from './evaluation'
import { exportModel } from './export'
import { downloadOfficialWeights, officialWeights } from './weights'
import { examples } from './examples'
import { createExampleProject } from './examples/studio-project'
import { exportJob } from './cluster/export-job'
import { importJob } from './cluster/import-job'

export interface ShellInfo {
  shell: 'electron' | 'web'
  /** Where projects created by name (web studio) are put. */
  workspaceDir: string
  /** The native folder dialog (Electron); absent in the browser studio, which uploads folders. */
  chooseFolder?: () => Promise<string | null>
}

const version = pkg.version

/** The composition of every domain's service behind the contract. */
export function createHandlers(shell: ShellInfo): Handlers {
  return {
    app: {
      info: async () => ({ version, dataDir: appDataDir(), workspaceDir: shell.workspaceDir, shell: shell.shell }),
      chooseFolder: async () => {
        if (!shell.chooseFolder) throw new AppError('BAD_REQUEST', 'The folder dialog is part of the desktop app.', 'In the browser studio, drop a folder on the import form or press Choose folder… (it is uploaded), or type a path on the server.')
        return shell.chooseFolder()
      },
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
      relabel: async ({ dir, ids, label }) => {
        await setLabel(dir, ids, label)
        return datasetOverview(dir)
      },
      review: ({ dir }, ctx) => reviewDataset(dir, { signal: ctx.signal, onProgress: ctx.onProgress }),
      nearDuplicates: ({ dir }, ctx) => nearDuplicates(dir, ctx.onProgress),
      augmentPreview: async ({ dir, augment, count, seed }) => {
        const preview = await augmentPreview(dir, count, { augment, variants: 1, seed })
        return preview.items.map((it) => `data:image/png;base64,${Buffer.from(it.augmented[0]).toString('base64')}`)
      },
      augmentPairs: async ({ dir, augment, count, seed }) => {
        const png = (b: Uint8Array) => `data:image/png;base64,${Buffer.from(b).toString('base64')}`
        const preview = await augmentPreview(dir, count, { augment, variants: 1, seed })
        return preview.items.map((it) => ({ label: it.label, original: png(it.original), augmented: png(it.augmented[0]) }))
      },
    },
    models: {
      catalog: async () => modelCatalog(),
      summary: (q) => modelSummary(q),
      choose: ({ dir, spec }) => chooseModel(dir, spec),
      weights: ({ base, inputSize }) => officialWeights(base, inputSize),
      downloadWeights: ({ base, inputSize }, ctx) => downloadOfficialWeights(base, inputSize, ctx),
    },
    training: {
      start: ({ dir, options }, ctx) => startInBackground(dir, options ?? {}, ctx.emit),
      stop: async ({ dir }) => stopInBackground(dir),
      status: async ({ dir }) => trainingStatus(dir),
      runs: ({ dir }) => listRuns(dir),
      run: async ({ dir, runId }) => {
        const r = await loadRun(dir, runId)
        return { run: r.info, epochs: r.metrics, config: r.config }
      },
      exportJob: ({ dir, out, overwrite, options }, ctx) => exportJob(dir, options ?? {}, { out, overwrite: !!overwrite, onProgress: (p) => ctx.onProgress({ phase: p.phase, done: p.done, total: p.total }) }),
      importJob: ({ dir, jobDir }) => importJob(dir, jobDir),
    },
    evaluation: {
      evaluate: ({ dir, options }, ctx) => evaluate(dir, options ?? {}, { signal: ctx.signal, onProgress: ctx.onProgress }),
      compare: ({ dir, options }, ctx) => compareRuns(dir, options, { signal: ctx.signal, onProgress: ctx.onProgress }),
      predict: ({ dir, paths, options }, ctx) => predict(dir, paths, options ?? {}, { signal: ctx.signal, onProgress: ctx.onProgress }),
      predictUploads: ({ dir, files, options }, ctx) =>
        predict(dir, files.map((f) => ({ name: f.name, data: new Uint8Array(Buffer.from(f.base64, 'base64')) })), options ?? {}, { signal: ctx.signal, onProgress: ctx.onProgress }),
      saliency: async ({ dir, runId, ids, paths, files, size }, ctx) => {
        const targets: SaliencyTarget[] = [
          ...(ids ?? []).map((id) => ({ id })),
          ...(paths ?? []).map((file) => ({ file })),
          ...(files ?? []).map((f) => ({ name: f.name, data: new Uint8Array(Buffer.from(f.base64, 'base64')) })),
        ]
        const items = await saliencyBatch(dir, targets, { runId, size }, { signal: ctx.signal, onProgress: ctx.onProgress })
        return items.map((it) =>
          it.result
            ? { key: it.key, dataUrl: `data:image/png;base64,${it.result.png.toString('base64')}`, label: it.result.label, probability: it.result.probability }
            : { key: it.key, error: it.error },
        )
      },
    },
    export: {
      run: ({ dir, options }, ctx) => exportModel(dir, options, { signal: ctx.signal, onProgress: ctx.onProgress }),
    },
    examples: {
      list: async () => examples().map((e) => ({ name: e.name, title: e.title, description: e.description })),
      create: ({ parent, name, example, source }, ctx) => createExampleProject(parent ?? shell.workspaceDir, name, example, source, ctx),
      run: ({ dir }, ctx) => runRecipeInBackground(dir, ctx.emit),
    },
  }
}
