import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import { changeKind, type ChangedImage, type ChangeKind, type CompareResult } from '../../../shared/compare'
import type { EvalSplit } from '../../../shared/evaluation'
import type { RunInfo } from '../../../shared/training'
import { useApi } from '../bridge'
import { toUiError, useProjectsStore, type UiError } from './projects'
import { createTask } from './task'

export type ChangeFilter = 'all' | ChangeKind
/** A confusion-matrix cell of one side: the changed images that run put there. */
export interface SideCell {
  side: 'a' | 'b'
  trueLabel: string
  predLabel: string
}

/** The runs that have a model to evaluate (a best or last checkpoint). */
export function comparableRuns(runs: readonly RunInfo[]): RunInfo[] {
  return runs.filter((r) => r.hasBest || r.hasLast)
}

/** The two latest comparable runs: A the older, B the newer (so "fixed" means the newer run fixed it). */
export function defaultPair(runs: readonly RunInfo[]): { a: string | null; b: string | null } {
  const byDate = [...comparableRuns(runs)].sort((x, y) => y.createdAt.localeCompare(x.createdAt) || y.runId.localeCompare(x.runId))
  return { a: byDate[1]?.runId ?? null, b: byDate[0]?.runId ?? null }
}

/** The changed images of one kind (or all), and of one side's matrix cell when one is picked. */
export function filterChanged(changed: readonly ChangedImage[], filter: ChangeFilter, cell: SideCell | null = null): ChangedImage[] {
  return changed.filter((c) => (filter === 'all' || changeKind(c) === filter) && (!cell || (c.label === cell.trueLabel && c[cell.side].predicted === cell.predLabel)))
}

/** The Compare view's state: the project's runs, the two picked, and their comparison (long, cancellable). */
export const useCompareStore = defineStore('compare', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)
  const runs = ref<RunInfo[]>([])
  const runsError = ref<UiError | null>(null)
  const runA = ref<string | null>(null)
  const runB = ref<string | null>(null)
  const split = ref<EvalSplit>('validation')
  const result = ref<CompareResult | null>(null)
  const filter = ref<ChangeFilter>('all')
  const cell = ref<SideCell | null>(null)
  const task = createTask()

  const choices = computed(() => comparableRuns(runs.value))
  const ready = computed(() => !!runA.value && !!runB.value && runA.value !== runB.value)
  const shown = computed(() => (result.value ? filterChanged(result.value.changed, filter.value, cell.value) : []))

  function reset() {
    runs.value = []
    runsError.value = null
    runA.value = runB.value = null
    result.value = null
    filter.value = 'all'
    cell.value = null
    task.clear()
  }
  watch(dir, reset)

  /** Lists the runs; a pick that is gone (or none yet) becomes the two latest runs. */
  async function loadRuns() {
    if (!dir.value) return
    try {
      runs.value = await useApi().training.runs({ dir: dir.value })
      runsError.value = null
    } catch (err) {
      runsError.value = toUiError(err)
      return
    }
    const ids = new Set(choices.value.map((r) => r.runId))
    if (!runA.value || !runB.value || !ids.has(runA.value) || !ids.has(runB.value)) {
      const pair = defaultPair(runs.value)
      runA.value = pair.a
      runB.value = pair.b
    }
  }

  async function compare() {
    if (!dir.value || !ready.value) return
    const options = { runA: runA.value!, runB: runB.value!, split: split.value }
    const r = await task.run((opts) => useApi().evaluation.compare({ dir: dir.value!, options }, opts))
    if (r) {
      result.value = r
      filter.value = 'all'
      cell.value = null
    }
  }

  /** Picks a matrix cell of one side (the same cell again clears it). */
  function pickCell(side: 'a' | 'b', trueIndex: number, predIndex: number) {
    const labels = result.value?.[side].labels
    if (!labels) return
    const next = { side, trueLabel: labels[trueIndex], predLabel: labels[predIndex] }
    const same = cell.value && cell.value.side === side && cell.value.trueLabel === next.trueLabel && cell.value.predLabel === next.predLabel
    cell.value = same ? null : next
  }

  /** Opening the view: the runs, then the two latest compared at once when there are two. */
  async function open() {
    await loadRuns()
    if (!result.value && ready.value) await compare()
  }

  function swap() {
    ;[runA.value, runB.value] = [runB.value, runA.value]
  }

  return { dir, runs, runsError, runA, runB, split, result, filter, cell, task: task.state, cancel: task.cancel, choices, ready, shown, loadRuns, compare, open, swap, pickCell }
})
