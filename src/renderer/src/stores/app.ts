import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { AppInfo } from '../../../shared/contract'
import { useApi } from '../bridge'

export type ViewName = 'projects' | 'data' | 'model' | 'train' | 'evaluate' | 'predict' | 'export'

export const VIEWS: { name: ViewName; label: string; needsProject: boolean }[] = [
  { name: 'projects', label: 'Projects', needsProject: false },
  { name: 'data', label: 'Data', needsProject: true },
  { name: 'model', label: 'Model', needsProject: true },
  { name: 'train', label: 'Train', needsProject: true },
  { name: 'evaluate', label: 'Evaluate', needsProject: true },
  { name: 'predict', label: 'Predict', needsProject: true },
  { name: 'export', label: 'Export', needsProject: true },
]

export const useAppStore = defineStore('app', () => {
  const view = ref<ViewName>('projects')
  const info = ref<AppInfo | null>(null)

  async function load() {
    info.value = await useApi().app.info({})
  }

  function go(name: ViewName) {
    view.value = name
  }

  return { view, info, load, go }
})
