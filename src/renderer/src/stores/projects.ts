import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { ProjectInfo, RecentProject } from '../../../shared/contract'
import { useApi } from '../bridge'
import { pageSearch, session } from '../lib/env'

export interface UiError {
  message: string
  hint?: string
}

export function toUiError(err: unknown): UiError {
  const e = err as { message?: string; hint?: string }
  return { message: e.message ?? String(err), hint: e.hint }
}

const LAST_KEY = 'classifier-studio:last-project'

export const useProjectsStore = defineStore('projects', () => {
  const current = ref<ProjectInfo | null>(null)
  const recent = ref<RecentProject[]>([])
  const error = ref<UiError | null>(null)
  const busy = ref(false)
  const isOpen = computed(() => current.value !== null)

  async function run<T>(work: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    error.value = null
    try {
      return await work()
    } catch (err) {
      error.value = toUiError(err)
      return undefined
    } finally {
      busy.value = false
    }
  }

  async function loadRecent() {
    await run(async () => {
      recent.value = await useApi().projects.recent({})
    })
  }

  function setCurrent(p: ProjectInfo) {
    current.value = p
    session().setItem(LAST_KEY, p.dir)
  }

  async function create(name: string, parent?: string) {
    const p = await run(() => useApi().projects.create({ name, parent: parent || undefined }))
    if (p) {
      setCurrent(p)
      await loadRecent()
    }
    return p
  }

  /** The desktop app's native folder dialog (null when cancelled; the browser studio has none). */
  async function chooseFolder(): Promise<string | null> {
    return (await run(() => useApi().app.chooseFolder({}))) ?? null
  }

  async function open(dir: string) {
    const p = await run(() => useApi().projects.open({ dir }))
    if (p) {
      setCurrent(p)
      await loadRecent()
    }
    return p
  }

  async function rename(name: string) {
    if (!current.value) return
    const p = await run(() => useApi().projects.rename({ dir: current.value!.dir, name }))
    if (p) setCurrent(p)
    await loadRecent()
  }

  async function forget(dir: string) {
    const list = await run(() => useApi().projects.forget({ dir }))
    if (list) recent.value = list
  }

  /** Autosave of a piece of per-project state (one key per domain). */
  async function saveState(key: string, value: unknown) {
    if (!current.value) return
    const p = await run(() => useApi().projects.saveState({ dir: current.value!.dir, key, value }))
    if (p) current.value = p
  }

  /** After a reload, reopen the project this tab had open (or the one `serve --project` named). */
  async function restore() {
    const fromUrl = new URLSearchParams(pageSearch()).get('project')
    const dir = fromUrl ?? session().getItem(LAST_KEY)
    if (dir) await open(dir)
  }

  return { current, recent, error, busy, isOpen, loadRecent, setCurrent, create, chooseFolder, open, rename, forget, saveState, restore }
})
