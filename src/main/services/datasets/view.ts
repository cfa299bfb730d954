import type { DatasetOverview, DatasetPage } from '../../../shared/contract'
import type { Split } from '../../../shared/project'
import { loadDatasetIndexShared } from './cache'
import { classCounts, datasetHealth } from './health'
import { setExcluded } from './read'
import { readProject } from '../projects'

/** The dataset as the Data view shows it (counts, health, last import's skipped files). */
export async function datasetOverview(dir: string): Promise<DatasetOverview> {
  const [idx, project] = await Promise.all([loadDatasetIndexShared(dir), readProject(dir)])
  if (!idx) return { total: 0, classes: [], splits: { train: 0, validation: 0, test: 0 }, health: null, skipped: [], duplicates: { exact: 0, crossSplit: 0 }, imports: [], settings: project.settings }
  const { duplicates, ...health } = datasetHealth(idx)
  const splits = { train: 0, validation: 0, test: 0 }
  for (const c of health.perClass) {
    splits.train += c.train
    splits.validation += c.validation
    splits.test += c.test
  }
  return {
    total: splits.train + splits.validation + splits.test,
    classes: classCounts(idx),
    splits,
    health,
    skipped: idx.lastSkipped,
    duplicates: { exact: duplicates.exact, crossSplit: duplicates.crossSplit },
    imports: idx.imports.map((i) => ({ source: i.source, at: i.at, added: i.added, skipped: i.skipped })),
    settings: idx.settings,
  }
}

/** One page of items for the thumbnail grid, filtered by split and class. */
export async function datasetPage(dir: string, q: { split?: Split; label?: string; offset: number; limit: number }): Promise<DatasetPage> {
  const idx = await loadDatasetIndexShared(dir)
  if (!idx) return { total: 0, items: [] }
  const label = q.label === undefined ? -1 : idx.classes.indexOf(q.label)
  const matching = idx.items.filter((it) => !it.stale && (q.split === undefined || it.split === q.split) && (label < 0 || it.label === label))
  return {
    total: matching.length,
    items: matching.slice(q.offset, q.offset + q.limit).map((it) => ({ id: it.id, label: idx.classes[it.label], split: it.split, src: it.src, excluded: !!it.excluded })),
  }
}

export async function excludeItems(dir: string, ids: number[], excluded: boolean): Promise<DatasetOverview> {
  await setExcluded(dir, ids, excluded)
  return datasetOverview(dir)
}
