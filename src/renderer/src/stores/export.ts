import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { ExportFormat, ExportResult } from '../../../shared/export'
import { exportZipUrl, startDownload, useApi } from '../bridge'
import { useAppStore } from './app'
import { useProjectsStore } from './projects'
import { createTask } from './task'

export const FORMATS: { value: ExportFormat; title: string; description: string }[] = [
  { value: 'onnx', title: 'ONNX', description: 'For onnxruntime in Python, C#, C++, Java or the browser.' },
  { value: 'tfjs', title: 'TensorFlow.js', description: 'model.json + weights for the browser or Node.' },
  { value: 'h5', title: 'Keras .h5', description: 'For Keras / TensorFlow in Python.' },
]

/** The Export view's state: format, destination, one export (long) and its parity report. */
export const useExportStore = defineStore('export', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)
  const format = ref<ExportFormat>('onnx')
  const out = ref('')
  const overwrite = ref(false)
  const result = ref<ExportResult | null>(null)
  const task = createTask()

  /** A fresh default destination inside the project for the picked format. */
  const suggestedOut = computed(() => (dir.value ? `${dir.value}/exports/${format.value}` : ''))

  function reset() {
    result.value = null
    out.value = ''
    task.clear()
  }
  watch(dir, reset)

  async function run(runId?: string) {
    if (!dir.value) return undefined
    const d = dir.value
    const dest = out.value.trim() || suggestedOut.value
    const r = await task.run((opts) => useApi().export.run({ dir: d, options: { format: format.value, out: dest, overwrite: overwrite.value || undefined, runId } }, opts))
    if (r) {
      result.value = r
      // The browser studio may run on another computer: the export also arrives as a download.
      if (downloadUrl.value) startDownload(downloadUrl.value)
    }
    return r
  }

  /** The finished export as a zip, in the browser studio (the desktop app has the folder itself). */
  const downloadUrl = computed(() => (result.value && dir.value && useAppStore().info?.shell === 'web' ? exportZipUrl(dir.value, result.value.out) : null))


  return { dir, format, out, overwrite, result, suggestedOut, downloadUrl, task: task.state, cancel: task.cancel, reset, run }
})
