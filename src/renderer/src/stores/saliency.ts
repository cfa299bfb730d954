import { reactive, ref } from 'vue'
import type { CallOptions } from '../../../shared/contract'
import type { SaliencyOverlay } from '../../../shared/evaluation'
import { createTask } from './task'

/** Overlays fetched per call: small batches so the first ones show while the rest compute. */
const CHUNK = 8

export type SaliencyFetcher = (keys: string[], opts: CallOptions) => Promise<SaliencyOverlay[]>

/**
 * The saliency overlay of a list of images (the Evaluate cell gallery, the Predict results):
 * a switch for all of them, a toggle per image, and overlays fetched only for the images whose
 * overlay is on, once each. `reset` forgets them (new model, new results, other project).
 */
export function createSaliency(fetcher: SaliencyFetcher) {
  const all = ref(false)
  /** Images whose toggle differs from the switch. */
  const flipped = ref<Set<string>>(new Set())
  const overlays = reactive<Record<string, SaliencyOverlay>>({})
  const loading = ref<Set<string>>(new Set())
  const task = createTask()
  let generation = 0

  const shown = (key: string) => all.value !== flipped.value.has(key)

  function toggle(key: string) {
    const next = new Set(flipped.value)
    if (next.has(key)) next.delete(key)
    else next.add(key)
    flipped.value = next
  }

  function setAll(on: boolean) {
    all.value = on
    flipped.value = new Set()
  }

  /** Keys asked for and not fetched yet, in order; one pump at a time fetches them in chunks. */
  let queue: string[] = []
  let pumping = false

  /**
   * Asks for the overlay of an image (on screen with its overlay on): queued, then fetched with
   * the others asked for meanwhile, a chunk per call, once each.
   */
  function request(key: string) {
    if (overlays[key] || loading.value.has(key) || !shown(key)) return
    loading.value = new Set([...loading.value, key])
    queue.push(key)
    if (!pumping) void pump()
  }

  async function pump() {
    pumping = true
    const gen = generation
    try {
      // let the other images that scrolled in ask first
      await new Promise((r) => setTimeout(r, 30))
      while (queue.length && gen === generation) {
        const part = queue.splice(0, CHUNK)
        const res = await task.run((opts) => fetcher(part, opts))
        if (gen !== generation) return
        const left = new Set(loading.value)
        for (const k of part) left.delete(k)
        if (!res) {
          for (const k of queue) left.delete(k)
          queue = []
        } else for (const o of res) overlays[o.key] = o
        loading.value = left
      }
    } finally {
      if (gen === generation) pumping = false
    }
  }

  function reset() {
    generation++
    queue = []
    pumping = false
    all.value = false
    flipped.value = new Set()
    for (const k of Object.keys(overlays)) delete overlays[k]
    loading.value = new Set()
    task.clear()
  }

  return { all, flipped, overlays, loading, task: task.state, shown, toggle, setAll, request, reset }
}

export type Saliency = ReturnType<typeof createSaliency>
