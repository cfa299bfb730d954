import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { Prediction } from '../../../shared/evaluation'
import { useApi } from '../bridge'
import { basename, toCsv } from '../lib/format'
import { useProjectsStore } from './projects'
import { createTask } from './task'
import { createSaliency } from './saliency'

export interface Upload {
  name: string
  base64: string
}

/** Reads browser File objects as base64 (no data: prefix). */
export async function filesToUploads(files: Iterable<File>): Promise<Upload[]> {
  const out: Upload[] = []
  for (const f of files) {
    const bytes = new Uint8Array(await f.arrayBuffer())
    let bin = ''
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
    out.push({ name: f.name || 'pasted-image.png', base64: btoa(bin) })
  }
  return out
}

/** The results as CSV: file, label, confidence, then the top-k label/probability pairs. */
export function predictionsCsv(rows: Prediction[]): string {
  const k = Math.max(0, ...rows.map((r) => r.top.length))
  const header: string[] = ['file', 'label', 'confidence']
  for (let i = 1; i <= k; i++) header.push(`top${i}_label`, `top${i}_probability`)
  header.push('error')
  return toCsv([header, ...rows.map((r) => {
    const row: (string | number)[] = [r.file, r.label, r.confidence]
    for (let i = 0; i < k; i++) row.push(r.top[i]?.label ?? '', r.top[i]?.probability ?? '')
    row.push(r.error ?? '')
    return row
  })])
}

export const MAX_UPLOADS = 64

/** The Predict view's state: dropped/pasted images or paths, results with top-k. */
export const usePredictStore = defineStore('predict', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)
  const top = ref(3)
  const results = ref<Prediction[]>([])
  /** Object URLs of uploaded images, by file name, for the results table. */
  const previews = ref<Record<string, string>>({})
  const task = createTask()
  /** The images of the last drop/paste (base64 by name), sent again for their saliency maps. */
  let uploaded: Record<string, string> = {}
  /** Saliency overlays of the results, keyed by the result's `file` (upload name or path). */
  const saliency = createSaliency((keys, opts) => {
    const d = dir.value
    if (!d) return Promise.resolve([])
    const files = keys.filter((k) => k in uploaded).map((name) => ({ name, base64: uploaded[name] }))
    const paths = keys.filter((k) => !(k in uploaded))
    return useApi().evaluation.saliency({ dir: d, ...(paths.length ? { paths } : {}), ...(files.length ? { files } : {}), size: 224 }, opts)
  })

  function reset() {
    for (const u of Object.values(previews.value)) URL.revokeObjectURL?.(u)
    results.value = []
    previews.value = {}
    uploaded = {}
    saliency.reset()
    task.clear()
  }
  watch(dir, reset)

  async function predictFiles(files: File[]) {
    if (!dir.value || files.length === 0) return undefined
    const d = dir.value
    const picked = files.slice(0, MAX_UPLOADS)
    const uploads = await filesToUploads(picked)
    const res = await task.run((opts) => useApi().evaluation.predictUploads({ dir: d, files: uploads, options: { top: top.value } }, opts))
    if (res) {
      const urls: Record<string, string> = {}
      if (typeof URL.createObjectURL === 'function') picked.forEach((f, i) => (urls[uploads[i].name] = URL.createObjectURL(f)))
      previews.value = urls
      uploaded = Object.fromEntries(uploads.map((u) => [u.name, u.base64]))
      saliency.reset()
      results.value = res
      if (files.length > MAX_UPLOADS) task.state.error = { message: `Only the first ${MAX_UPLOADS} of ${files.length} images were predicted.`, hint: 'For whole folders, type the folder path instead.' }
    }
    return res
  }

  async function predictPaths(paths: string[]) {
    const clean = paths.map((p) => p.trim()).filter(Boolean)
    if (!dir.value || clean.length === 0) return undefined
    const d = dir.value
    const res = await task.run((opts) => useApi().evaluation.predict({ dir: d, paths: clean, options: { top: top.value } }, opts))
    if (res) {
      previews.value = {}
      uploaded = {}
      saliency.reset()
      results.value = res
    }
    return res
  }

  const csv = computed(() => predictionsCsv(results.value))
  const preview = (file: string) => previews.value[file] ?? previews.value[basename(file)]

  return { dir, top, results, previews, saliency, task: task.state, cancel: task.cancel, csv, preview, reset, predictFiles, predictPaths }
})
