import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { ExampleInfo, ProjectInfo } from '../../../shared/contract'
import { useApi } from '../bridge'
import { toUiError, useProjectsStore, type UiError } from './projects'
import { createTask } from './task'

/**
 * The Projects view's "Start from an example": the tutorial list and one long, cancellable
 * create (fetch or read the data, import it, preset model and recipe).
 */
export const useExamplesStore = defineStore('examples', () => {
  const list = ref<ExampleInfo[]>([])
  const listError = ref<UiError | null>(null)
  const loaded = ref(false)
  const task = createTask()
  /** The example being created (its card shows the progress). */
  const creating = ref<string | null>(null)

  async function load() {
    if (loaded.value) return
    listError.value = null
    try {
      list.value = await useApi().examples.list({})
      loaded.value = true
    } catch (err) {
      listError.value = toUiError(err)
    }
  }

  /**
   * Creates the example project and opens it. `source` is an optional local copy of the data
   * (a folder or file) or a URL replacing the official one. Resolves undefined on error or
   * cancel (the error, with its hint, is in task.error).
   */
  async function create(example: string, name: string, source?: string): Promise<ProjectInfo | undefined> {
    if (task.state.running) return undefined
    creating.value = example
    const src = source?.trim() || undefined
    try {
      const made = await task.run((opts) => useApi().examples.create({ name: name.trim(), example, ...(src ? { source: src } : {}) }, opts))
      if (!made) return undefined
      // Opened the usual way, so this window (and its session) works on it like any project.
      const p = await useProjectsStore().open(made.dir)
      if (!p) task.state.error = useProjectsStore().error
      return p
    } finally {
      if (!task.state.error) creating.value = null
    }
  }

  function dismiss() {
    task.clear()
    creating.value = null
  }

  return { list, listError, loaded, task: task.state, cancel: task.cancel, creating, load, create, dismiss }
})
