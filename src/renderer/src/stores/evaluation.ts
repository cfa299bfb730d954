import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { EvalSplit, EvaluatedItem, EvaluationResult } from '../../../shared/evaluation'
import { useApi } from '../bridge'
import { useProjectsStore, type UiError } from './projects'
import { useDatasetsStore } from './datasets'
import { createTask } from './task'
import { createSaliency } from './saliency'

export interface TopConfusion {
  trueLabel: string
  predLabel: string
  trueIndex: number
  predIndex: number
  count: number
  rate: number
}

/** Off-diagonal cells, most frequent first (ties by rate). */
export function topConfusions(matrix: number[][], labels: string[], limit = 5): TopConfusion[] {
  const out: TopConfusion[] = []
  matrix.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0)
    row.forEach((count, p) => {
      if (t !== p && count > 0) out.push({ trueIndex: t, predIndex: p, trueLabel: labels[t], predLabel: labels[p], count, rate: total ? count / total : 0 })
    })
  })
  return out.sort((a, b) => b.count - a.count || b.rate - a.rate).slice(0, limit)
}

/** The items of one confusion cell, most confident first. */
export function cellItems(items: EvaluatedItem[], trueIndex: number, predIndex: number): EvaluatedItem[] {
  return items.filter((i) => i.trueIndex === trueIndex && i.predIndex === predIndex).sort((a, b) => b.confidence - a.confidence)
}

/** The Evaluate view's state: one evaluation (long, cancellable) and the drill-down cell. */
export const useEvaluationStore = defineStore('evaluation', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)
  const split = ref<EvalSplit>(defaultSplit())
  const runId = ref<string | null>(null)
  const result = ref<EvaluationResult | null>(null)
  /** Apply the run's fitted temperature (the default once one is fitted). */
  const calibrated = ref(true)
  const task = createTask()
  const cell = ref<{ trueIndex: number; predIndex: number } | null>(null)
  /** Images of the shown result the user has since excluded (the result still lists them). */
  const excluded = ref<Set<number>>(new Set())
  const excludeError = ref<UiError | null>(null)
  /** True while exclusions changed the data this result was computed on. */
  const stale = computed(() => excluded.value.size > 0)

  const gallery = computed(() => (result.value && cell.value ? cellItems(result.value.items, cell.value.trueIndex, cell.value.predIndex) : []))
  const confusions = computed(() => (result.value ? topConfusions(result.value.confusionMatrix, result.value.labels) : []))
  /** Saliency overlays of the gallery's images, keyed `id:<n>`, for the evaluated run. */
  const saliency = createSaliency((keys, opts) => {
    const d = dir.value
    if (!d) return Promise.resolve([])
    return useApi().evaluation.saliency({ dir: d, runId: result.value?.runId, ids: keys.map((k) => Number(k.slice(3))), size: 280 }, opts)
  })

  /** The split a project opens on: its example's tutorial split (e.g. a test set), else validation. */
  function defaultSplit(): EvalSplit {
    const ex = projects.current?.state?.example as { evaluateSplit?: unknown } | undefined
    return ex?.evaluateSplit === 'test' ? 'test' : 'validation'
  }

  function reset() {
    // Each project starts on its own default split: one project's choice must not carry over.
    split.value = defaultSplit()
    result.value = null
    cell.value = null
    runId.value = null
    excluded.value = new Set()
    excludeError.value = null
    saliency.reset()
    task.clear()
  }
  watch(dir, reset)

  async function evaluate(force = false) {
    if (!dir.value) return undefined
    const d = dir.value
    cell.value = null
    const r = await task.run((opts) => useApi().evaluation.evaluate({ dir: d, options: { split: split.value, runId: runId.value ?? undefined, force, calibrated: calibrated.value } }, opts))
    if (r) {
      saliency.reset()
      result.value = r
      excluded.value = new Set()
    }
    return r
  }

  /**
   * Excludes a gallery image from training and evaluation (e.g. mislabeled), or brings it back,
   * through the datasets service (the project index only; files are never touched). The next
   * evaluate recomputes: the service's cache key covers exclusions.
   */
  async function toggleExcluded(id: number) {
    const next = !excluded.value.has(id)
    const datasets = useDatasetsStore()
    excludeError.value = null
    if (!(await datasets.setExcluded([id], next))) {
      excludeError.value = datasets.excludeError
      return false
    }
    const set = new Set(excluded.value)
    if (next) set.add(id)
    else set.delete(id)
    excluded.value = set
    return true
  }

  function openCell(trueIndex: number, predIndex: number) {
    cell.value = { trueIndex, predIndex }
  }

  function closeCell() {
    cell.value = null
  }

  return { dir, split, runId, result, calibrated, task: task.state, cancel: task.cancel, cell, gallery, confusions, saliency, excluded, excludeError, stale, reset, evaluate, toggleExcluded, openCell, closeCell }
})
