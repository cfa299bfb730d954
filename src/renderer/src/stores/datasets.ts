import { defineStore } from 'pinia'
import { computed, ref, shallowRef, watch } from 'vue'
import type { DatasetOverview, DatasetPage } from '../../../shared/contract'
import type { ImportOptions, ImportSummary } from '../../../shared/datasets'
import { AppError } from '../../../shared/errors'
import { useApi } from '../bridge'
import { toUiError, useProjectsStore, type UiError } from './projects'
import { createTask } from './task'
import { discardUpload, uploadFolder, type PickedFolder } from '../bridge/uploads'

export const PAGE_SIZE = 200

/** The Data view's state: overview, import (long, cancellable), paged items, augmentation preview. */
export const useDatasetsStore = defineStore('datasets', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)

  const overview = ref<DatasetOverview | null>(null)
  const loadError = ref<UiError | null>(null)
  const loading = ref(false)
  const importTask = createTask()
  const lastImport = ref<ImportSummary | null>(null)

  /** Items by class label: sparse pages fetched as the grid scrolls. */
  const pages = shallowRef<Map<string, Map<number, DatasetPage['items']>>>(new Map())
  const pagesVersion = ref(0)
  const pending = new Set<string>()
  /** Items per class as the grid lists them (excluded ones included), from the first page fetched. */
  const totals = ref<Record<string, number>>({})
  const excludeError = ref<UiError | null>(null)
  /** Ids whose exclusion is being saved (their toggles wait). */
  const excluding = ref<Set<number>>(new Set())

  const isEmpty = computed(() => !overview.value || overview.value.total === 0)

  function reset() {
    overview.value = null
    loadError.value = null
    lastImport.value = null
    pages.value = new Map()
    pending.clear()
    totals.value = {}
    excludeError.value = null
    excluding.value = new Set()
    importTask.clear()
  }
  watch(dir, reset)

  async function load() {
    if (!dir.value) return
    loading.value = true
    loadError.value = null
    try {
      overview.value = await useApi().datasets.overview({ dir: dir.value })
    } catch (err) {
      loadError.value = toUiError(err)
    } finally {
      loading.value = false
    }
  }

  async function importFrom(source: string, options: ImportOptions = {}) {
    if (!dir.value) return undefined
    const d = dir.value
    const summary = await importTask.run((opts) => useApi().datasets.import({ dir: d, source, options }, opts))
    if (summary) {
      lastImport.value = summary
      pages.value = new Map()
      pending.clear()
      totals.value = {}
      await load()
    }
    return summary
  }

  /** The running upload's abort (Cancel stops the upload as well as the import after it). */
  let uploadAbort: AbortController | null = null

  /**
   * A folder dropped or chosen in the browser: uploaded into a staging folder the studio owns on
   * the server (relative paths kept), imported from there with the same progress and cancel as a
   * typed path, then the staging folder is removed (the project keeps its own copy of every image).
   */
  async function uploadAndImport(picked: PickedFolder, options: ImportOptions = {}) {
    if (!dir.value) return undefined
    const d = dir.value
    const ac = new AbortController()
    uploadAbort = ac
    try {
      const summary = await importTask.run(async (opts) => {
        const staged = await uploadFolder(d, picked, { signal: ac.signal, onProgress: opts.onProgress })
        try {
          if (ac.signal.aborted) throw new AppError('CANCELLED', 'Cancelled.')
          return await useApi().datasets.import({ dir: d, source: staged.source, options }, opts)
        } finally {
          await discardUpload(d, staged.id)
        }
      })
      if (summary) {
        lastImport.value = summary
        pages.value = new Map()
        pending.clear()
        totals.value = {}
        await load()
      }
      return summary
    } finally {
      if (uploadAbort === ac) uploadAbort = null
    }
  }

  async function cancelImport() {
    if (uploadAbort) {
      importTask.state.cancelled = true
      uploadAbort.abort()
    }
    await importTask.cancel()
  }

  /** Items of one class in [offset, offset+PAGE_SIZE): fetched once, shared by the grid. */
  function itemAt(label: string, index: number): DatasetPage['items'][number] | undefined {
    void pagesVersion.value
    const page = Math.floor(index / PAGE_SIZE)
    return pages.value.get(label)?.get(page)?.[index - page * PAGE_SIZE]
  }

  async function ensureRange(label: string, from: number, to: number) {
    if (!dir.value) return
    const d = dir.value
    const first = Math.floor(Math.max(0, from) / PAGE_SIZE)
    const last = Math.floor(Math.max(0, to) / PAGE_SIZE)
    const jobs: Promise<void>[] = []
    for (let p = first; p <= last; p++) {
      const key = `${label}\u0000${p}`
      if (pages.value.get(label)?.has(p) || pending.has(key)) continue
      pending.add(key)
      jobs.push(
        useApi()
          .datasets.items({ dir: d, label, offset: p * PAGE_SIZE, limit: PAGE_SIZE })
          .then((res) => {
            if (d !== dir.value) return
            const byLabel = pages.value.get(label) ?? new Map()
            byLabel.set(p, res.items)
            pages.value.set(label, byLabel)
            if (totals.value[label] !== res.total) totals.value = { ...totals.value, [label]: res.total }
            pagesVersion.value++
          })
          .catch((err) => {
            loadError.value = toUiError(err)
          })
          .finally(() => pending.delete(key)),
      )
    }
    await Promise.all(jobs)
  }

  /** How many items the grid lists for a class (excluded ones included); the class count until known. */
  function totalOf(label: string): number {
    return totals.value[label] ?? overview.value?.classes.find((c) => c.name === label)?.count ?? 0
  }

  /** Of a class's listed items, how many are excluded (known once its first page is loaded). */
  function excludedIn(label: string): number {
    const listed = totals.value[label]
    const counted = overview.value?.classes.find((c) => c.name === label)?.count
    return listed == null || counted == null ? 0 : Math.max(0, listed - counted)
  }

  /**
   * Leaves images out of training and evaluation (e.g. mislabeled), or brings them back. Only the
   * project's index changes, never the files. Updates the cached pages in place (no reload
   * flicker) and the overview's counts. Resolves false on error (in excludeError).
   */
  async function setExcluded(ids: number[], excluded: boolean): Promise<boolean> {
    if (!dir.value || ids.length === 0) return false
    const d = dir.value
    excludeError.value = null
    excluding.value = new Set([...excluding.value, ...ids])
    try {
      const ov = await useApi().datasets.exclude({ dir: d, ids, excluded })
      if (d !== dir.value) return false
      overview.value = ov
      const set = new Set(ids)
      for (const byLabel of pages.value.values()) for (const items of byLabel.values()) for (const it of items) if (set.has(it.id)) it.excluded = excluded
      pagesVersion.value++
      return true
    } catch (err) {
      excludeError.value = toUiError(err)
      return false
    } finally {
      const left = new Set(excluding.value)
      for (const id of ids) left.delete(id)
      excluding.value = left
    }
  }

  /** Bumped when the grid's pages are dropped (labels changed): the grid remounts and fetches again. */
  const gridEpoch = ref(0)

  /** Shows a changed dataset (relabelled images): fresh counts and grid pages. */
  function refresh(next: DatasetOverview) {
    overview.value = next
    pages.value = new Map()
    pending.clear()
    totals.value = {}
    gridEpoch.value++
  }

  return { dir, overview, loadError, loading, importTask: importTask.state, cancelImport, lastImport, isEmpty, pagesVersion, totals, excludeError, excluding, gridEpoch, reset, load, refresh, importFrom, uploadAndImport, itemAt, ensureRange, totalOf, excludedIn, setExcluded }
})
