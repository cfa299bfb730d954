import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import { useApi } from '../bridge'
import { augmentSpecText, controlsFromSpec } from '../lib/augment'
import { useProjectsStore, toUiError, type UiError } from './projects'

export interface AugmentPair {
  label: string
  original: string
  augmented: string
}

/** Preview images shown beside their originals. */
export const AUGMENT_PREVIEW_COUNT = 4

/**
 * The Data view's augmentation controls: the spec text they produce (what the Train view and
 * the CLI's --augment take) and a preview of training images beside their augmented version,
 * redrawn (same images, same random draws) whenever a control moves.
 */
export const useAugmentStore = defineStore('augment', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)
  const controls = reactive(controlsFromSpec('flip,rotate=15,zoom=0.1'))
  const spec = computed(() => augmentSpecText(controls))
  const seed = ref(1)
  const pairs = ref<AugmentPair[]>([])
  /** The spec the shown preview was drawn with. */
  const shownSpec = ref<string | null>(null)
  const busy = ref(false)
  const error = ref<UiError | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null
  let asked = 0

  async function preview() {
    const d = dir.value
    if (!d) return
    const mine = ++asked
    const s = spec.value
    busy.value = true
    error.value = null
    try {
      const res = await useApi().datasets.augmentPairs({ dir: d, augment: s, count: AUGMENT_PREVIEW_COUNT, seed: seed.value })
      if (mine !== asked) return
      pairs.value = res
      shownSpec.value = s
    } catch (err) {
      if (mine === asked) error.value = toUiError(err)
    } finally {
      if (mine === asked) busy.value = false
    }
  }

  /** Redraws shortly after the last change (a dragged slider asks once it rests). */
  function schedule() {
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => void preview(), 150)
  }

  function otherImages() {
    seed.value = seed.value + 1
    void preview()
  }

  function reset() {
    asked++
    pairs.value = []
    shownSpec.value = null
    busy.value = false
    error.value = null
  }

  watch(spec, schedule)
  watch(dir, reset)

  return { dir, controls, spec, seed, pairs, shownSpec, busy, error, preview, schedule, otherImages, reset }
})
