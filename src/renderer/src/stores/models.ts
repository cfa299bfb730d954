import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { ModelCatalog } from '../../../shared/contract'
import type { LayerSpecInput, ModelSpecInput, ModelSummary } from '../../../shared/models'
import { useApi } from '../bridge'
import { toUiError, useProjectsStore, type UiError } from './projects'

/** A preset as the catalog lists it; `layers` when the service sends them (for the editor). */
export type CatalogPreset = ModelCatalog['presets'][number] & { layers?: LayerSpecInput[] }

/** Used when a preset arrives without its layers: a small, sound CNN to start editing from. */
export const STARTER_LAYERS: LayerSpecInput[] = [
  { type: 'Conv2D', filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' },
  { type: 'MaxPooling2D', poolSize: 2 },
  { type: 'Conv2D', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' },
  { type: 'MaxPooling2D', poolSize: 2 },
  { type: 'Conv2D', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' },
  { type: 'GlobalAveragePooling2D' },
  { type: 'Dropout', rate: 0.2 },
]

/** The Model view's state: catalog, the draft spec, its live Keras summary, the chosen model. */
export const useModelsStore = defineStore('models', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)

  const catalog = ref<ModelCatalog | null>(null)
  const catalogError = ref<UiError | null>(null)
  const draft = ref<ModelSpecInput>({ type: 'transfer', base: 'mobilenetv2' })
  const summary = ref<ModelSummary | null>(null)
  const summaryError = ref<UiError | null>(null)
  const summaryBusy = ref(false)
  const chosen = ref<ModelSpecInput | null>(null)
  const chooseError = ref<UiError | null>(null)
  const choosing = ref(false)
  let summarySeq = 0

  /** The chosen model kept in project.json by models.choose (state.model), when present. */
  function chosenFromProject(): ModelSpecInput | null {
    const s = projects.current?.state?.model as { spec?: ModelSpecInput } | ModelSpecInput | undefined
    if (!s) return null
    if ('spec' in s && s.spec) return s.spec
    if ('type' in s) return s as ModelSpecInput
    return null
  }

  function reset() {
    chosen.value = chosenFromProject()
    draft.value = chosen.value ? toRaw(chosen.value) : { type: 'transfer', base: 'mobilenetv2' }
    summary.value = null
    summaryError.value = null
    chooseError.value = null
  }
  watch(dir, reset)
  let initDir: string | null = null
  /** Initialises the draft from the project's chosen model once per opened project. */
  function ensure() {
    if (initDir === dir.value) return
    initDir = dir.value
    reset()
  }

  async function loadCatalog() {
    if (catalog.value) return
    catalogError.value = null
    try {
      catalog.value = await useApi().models.catalog({})
    } catch (err) {
      catalogError.value = toUiError(err)
    }
  }

  /** Refreshes the live summary of the draft (latest request wins). */
  async function refreshSummary() {
    const seq = ++summarySeq
    summaryBusy.value = true
    try {
      const s = await useApi().models.summary({ dir: dir.value ?? undefined, spec: toRaw(draft.value) as never })
      if (seq === summarySeq) {
        summary.value = s
        summaryError.value = null
      }
    } catch (err) {
      if (seq === summarySeq) {
        summary.value = null
        summaryError.value = toUiError(err)
      }
    } finally {
      if (seq === summarySeq) summaryBusy.value = false
    }
  }

  function useTransfer(base: 'mobilenetv2' | 'vgg16') {
    draft.value = { type: 'transfer', base }
    return refreshSummary()
  }

  function useCnn(presetName?: string) {
    const preset = catalog.value?.presets.find((p) => p.name === presetName) as CatalogPreset | undefined
    draft.value = { type: 'cnn', preset: presetName, layers: toRaw(preset?.layers ?? STARTER_LAYERS) }
    return refreshSummary()
  }

  function setLayers(layers: LayerSpecInput[]) {
    if (draft.value.type !== 'cnn') return
    draft.value = { ...draft.value, layers }
    return refreshSummary()
  }

  async function choose() {
    if (!dir.value) return undefined
    choosing.value = true
    chooseError.value = null
    try {
      const res = await useApi().models.choose({ dir: dir.value, spec: toRaw(draft.value) as never })
      chosen.value = res.spec as ModelSpecInput
      summary.value = res.summary
      return res
    } catch (err) {
      chooseError.value = toUiError(err)
      return undefined
    } finally {
      choosing.value = false
    }
  }

  return { dir, ensure, catalog, catalogError, draft, summary, summaryError, summaryBusy, chosen, chooseError, choosing, reset, loadCatalog, refreshSummary, useTransfer, useCnn, setLayers, choose }
})

function toRaw<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T
}
