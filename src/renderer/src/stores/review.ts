import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { NearDuplicateReport, ReviewIssue, ReviewResult } from '../../../shared/review'
import { useApi } from '../bridge'
import { useDatasetsStore } from './datasets'
import { toUiError, useProjectsStore, type UiError } from './projects'
import { createTask } from './task'

/**
 * The Data view's review: probably mislabeled images (datasets.review) with one-click exclude or
 * relabel, and near-duplicate pairs (datasets.nearDuplicates). What the user fixed stays listed,
 * marked, until the review runs again.
 */
export const useReviewStore = defineStore('review', () => {
  const projects = useProjectsStore()
  const datasets = useDatasetsStore()
  const dir = computed(() => projects.current?.dir ?? null)

  const result = ref<ReviewResult | null>(null)
  const reviewTask = createTask()
  const duplicates = ref<NearDuplicateReport | null>(null)
  const duplicatesTask = createTask()
  /** What was done to each listed image in this session: excluded, or relabelled to a class. */
  const fixed = ref<Record<number, { excluded?: boolean; label?: string }>>({})
  const busy = ref<Set<number>>(new Set())
  const fixError = ref<UiError | null>(null)

  function reset() {
    result.value = null
    duplicates.value = null
    fixed.value = {}
    busy.value = new Set()
    fixError.value = null
    reviewTask.clear()
    duplicatesTask.clear()
  }
  watch(dir, reset)

  async function review() {
    if (!dir.value) return
    const d = dir.value
    const r = await reviewTask.run((opts) => useApi().datasets.review({ dir: d }, opts))
    if (r && d === dir.value) {
      result.value = r
      fixed.value = {}
    }
  }

  async function findDuplicates() {
    if (!dir.value) return
    const d = dir.value
    const r = await duplicatesTask.run((opts) => useApi().datasets.nearDuplicates({ dir: d }, opts))
    if (r && d === dir.value) duplicates.value = r
  }

  /** Runs one fix of one image, keeping the Data view's counts and grid in step. */
  async function fix(issue: ReviewIssue, work: (d: string) => Promise<unknown>, done: { excluded?: boolean; label?: string }) {
    if (!dir.value) return
    const d = dir.value
    fixError.value = null
    busy.value = new Set([...busy.value, issue.id])
    try {
      await work(d)
      if (d !== dir.value) return
      const next = { ...fixed.value }
      // Undoing (its own label back, or included again) clears the mark.
      if (done.label === issue.label || done.excluded === false) delete next[issue.id]
      else next[issue.id] = done
      fixed.value = next
    } catch (err) {
      fixError.value = toUiError(err)
    } finally {
      const left = new Set(busy.value)
      left.delete(issue.id)
      busy.value = left
    }
  }

  const exclude = (issue: ReviewIssue, excluded = true) => fix(issue, () => datasets.setExcluded([issue.id], excluded), { excluded })

  /** Gives the image the suggested (or another) class: the project's index changes, never the file. */
  const relabel = (issue: ReviewIssue, label = issue.suggested) =>
    fix(
      issue,
      async (d) => datasets.refresh(await useApi().datasets.relabel({ dir: d, ids: [issue.id], label })),
      { label },
    )

  return { dir, result, reviewTask: reviewTask.state, duplicates, duplicatesTask: duplicatesTask.state, fixed, busy, fixError, reset, review, findDuplicates, exclude, relabel, cancelReview: reviewTask.cancel }
})
