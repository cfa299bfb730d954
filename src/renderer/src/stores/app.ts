import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AppInfo } from '../../../shared/contract'
import { useApi } from '../bridge'
import { onPageRoute, pageRoute, setPageRoute } from '../lib/env'

export type ViewName = 'projects' | 'data' | 'model' | 'train' | 'evaluate' | 'compare' | 'predict' | 'export'

export const VIEWS: { name: ViewName; label: string; needsProject: boolean }[] = [
  { name: 'projects', label: 'Projects', needsProject: false },
  { name: 'data', label: 'Data', needsProject: true },
  { name: 'model', label: 'Model', needsProject: true },
  { name: 'train', label: 'Train', needsProject: true },
  { name: 'evaluate', label: 'Evaluate', needsProject: true },
  { name: 'compare', label: 'Compare', needsProject: true },
  { name: 'predict', label: 'Predict', needsProject: true },
  { name: 'export', label: 'Export', needsProject: true },
]

/** The view a hash route names ('#/train'), or null. */
export function viewFromRoute(route: string): ViewName | null {
  const name = route.split(/[/?]/)[0]
  return VIEWS.find((v) => v.name === name)?.name ?? null
}

/** The shell: which view is shown (mirrored in the URL as #/<view>, so a reload stays on it). */
export const useAppStore = defineStore('app', () => {
  const view = ref<ViewName>(viewFromRoute(pageRoute()) ?? 'projects')
  const info = ref<AppInfo | null>(null)
  onPageRoute(() => {
    const v = viewFromRoute(pageRoute())
    if (v && v !== view.value) view.value = v
  })

  async function load() {
    info.value = await useApi().app.info({})
  }

  function go(name: ViewName, replace = false) {
    view.value = name
    setPageRoute(name, replace)
  }

  return { view, info, load, go }
})
