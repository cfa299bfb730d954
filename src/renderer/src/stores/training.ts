import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import type { RecipeDoneEvent, RecipeStep } from '../../../shared/contract'
import { ExampleState } from '../../../shared/examples'
import { ReduceLrSpec, type EpochMetrics, type RunInfo, type TrainOptionsInput } from '../../../shared/training'
import { useApi } from '../bridge'
import { toUiError, useProjectsStore, type UiError } from './projects'
import { useModelsStore } from './models'

export interface BatchProgress {
  epoch: number
  batch: number
  batches: number
  imagesPerSecond: number
  etaSeconds: number
  loss: number
  accuracy: number
}

/** The form's fields, with the one-click defaults (transfer learning, Keras guide values). */
export interface TrainForm {
  recipe: 'transfer' | 'finetune' | 'cnn'
  base: 'mobilenetv2' | 'vgg16'
  epochs: number
  batch: number
  /** Empty = the recipe's default (1e-3 Adam; 1e-5 RMSprop for fine-tuning). */
  lr: number | null
  augment: string
  earlyStop: boolean
  patience: number
  /** Transfer / fine-tune: a Keras .h5 or TF.js model.json with the base's weights ('' = built-in or cached). */
  baseWeights: string
  /** Null = the recipe's default (Adam; RMSprop for fine-tuning). Example recipes name theirs. */
  optimizer: 'adam' | 'rmsprop' | 'sgd' | null
}

export function defaultForm(): TrainForm {
  return { recipe: 'transfer', base: 'mobilenetv2', epochs: 10, batch: 32, lr: null, augment: '', earlyStop: true, patience: 3, baseWeights: '', optimizer: null }
}

/** The form as training.start options (what the CLI's flags would build). */
export function formToOptions(f: TrainForm, extra: Partial<TrainOptionsInput> = {}): TrainOptionsInput {
  const o: TrainOptionsInput = { recipe: f.recipe, epochs: f.epochs, batch: f.batch, augment: f.augment.trim() || 'none', earlyStop: f.earlyStop ? f.patience : false, ...extra }
  if (f.recipe !== 'cnn') {
    o.base = f.base
    if (f.baseWeights.trim()) o.baseWeights = f.baseWeights.trim()
  }
  if (f.lr != null && f.lr > 0) o.lr = f.lr
  if (f.optimizer) o.optimizer = f.optimizer
  return o
}

/** The options of an example project's first stage (project.state.example), if readable. */
function firstStageOptions(state: Record<string, unknown> | undefined): Record<string, unknown> | null {
  const stage = (state?.example as { stages?: { options?: unknown }[] } | undefined)?.stages?.[0]?.options
  return stage && typeof stage === 'object' ? (stage as Record<string, unknown>) : null
}

/**
 * The form an example project starts with: its recipe's first stage (project.state.example,
 * written by examples.create), so Train runs the tutorial's settings with the preset model.
 * Null when the project is not an example or the stage is unreadable.
 */
export function formFromExample(state: Record<string, unknown> | undefined): TrainForm | null {
  const stage = firstStageOptions(state)
  if (!stage) return null
  const f = defaultForm()
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
  if (stage.recipe === 'transfer' || stage.recipe === 'finetune' || stage.recipe === 'cnn') f.recipe = stage.recipe
  if (stage.base === 'mobilenetv2' || stage.base === 'vgg16') f.base = stage.base
  f.epochs = num(stage.epochs) ?? f.epochs
  f.batch = num(stage.batchSize) ?? num(stage.batch) ?? f.batch
  f.lr = num(stage.learningRate) ?? num(stage.lr) ?? null
  if (typeof stage.augment === 'string') f.augment = stage.augment === 'none' ? '' : stage.augment
  const es = stage.earlyStop
  if (es === false || es === undefined) f.earlyStop = false
  else if (typeof es === 'number') Object.assign(f, { earlyStop: true, patience: es })
  else if (typeof es === 'object' && es) Object.assign(f, { earlyStop: true, patience: num((es as { patience?: unknown }).patience) ?? 3 })
  if (typeof stage.baseWeights === 'string') f.baseWeights = stage.baseWeights
  if (stage.optimizer === 'adam' || stage.optimizer === 'rmsprop' || stage.optimizer === 'sgd') f.optimizer = stage.optimizer
  return f
}

/** Stage options the form has fields for (the model preset is the Models store's). */
const FORM_KEYS = new Set(['recipe', 'base', 'model', 'epochs', 'batchSize', 'batch', 'learningRate', 'lr', 'augment', 'earlyStop', 'baseWeights', 'optimizer'])

/**
 * The rest of an example's first stage (learning-rate decay, label smoothing, checkpoint
 * monitor, seed...): sent with the form while its recipe is the example's, so one click runs
 * the tutorial's whole stage. `text` says what they are, for the form's note.
 */
export function exampleExtras(state: Record<string, unknown> | undefined): { options: Partial<TrainOptionsInput>; text: string } {
  const stage = firstStageOptions(state) ?? {}
  const options = Object.fromEntries(Object.entries(stage).filter(([k, v]) => !FORM_KEYS.has(k) && v !== undefined)) as Partial<TrainOptionsInput>
  const parts: string[] = []
  const rl = ReduceLrSpec.safeParse(typeof options.reduceLrOnPlateau === 'number' ? { patience: options.reduceLrOnPlateau } : options.reduceLrOnPlateau)
  if (rl.success) parts.push(`learning rate ×${rl.data.factor} after ${rl.data.patience} stalled epoch(s)`)
  if (typeof options.labelSmoothing === 'number' && options.labelSmoothing > 0) parts.push(`label smoothing ${options.labelSmoothing}`)
  if (options.fineTuneFrom !== undefined) parts.push(`unfrozen from ${String(options.fineTuneFrom)}`)
  return { options, text: parts.join(' · ') }
}

/** The Train view's state: live run (via 'training' events), past runs, overlays. */
export const useTrainingStore = defineStore('training', () => {
  const projects = useProjectsStore()
  const dir = computed(() => projects.current?.dir ?? null)

  const form = reactive<TrainForm>(defaultForm())
  const running = ref(false)
  const stopping = ref(false)
  const runId = ref<string | null>(null)
  const backend = ref<string | null>(null)
  const backendReason = ref<string | null>(null)
  const epochsPlanned = ref(0)
  const epochs = ref<EpochMetrics[]>([])
  const batch = ref<BatchProgress | null>(null)
  const log = ref<string[]>([])
  const error = ref<UiError | null>(null)
  const runs = ref<RunInfo[]>([])
  const runsError = ref<UiError | null>(null)
  /** Past runs' curves, by runId, for overlays. */
  const overlays = ref<Record<string, EpochMetrics[]>>({})
  const shown = ref<string[]>([])
  const lastResult = ref<{ stoppedEarly: boolean; stopped: boolean; bestEpoch: number } | null>(null)
  /** The step of an example's recipe running (Run the whole recipe), and how the recipe ended. */
  const recipe = ref<RecipeStep | null>(null)
  const recipeResult = ref<RecipeDoneEvent['evaluation'] | null>(null)
  let unsubscribe: (() => void) | null = null
  /** The project whose settings the form was last set up for. */
  let formDir: string | null = null
  /** The example recipe the form started from (its first stage), if any. */
  const example = ref<{ title: string; stage: string; stages: number; form: TrainForm; extras: ReturnType<typeof exampleExtras>; inputSize: { size: number; why: string } | null } | null>(null)

  const lastEpoch = computed(() => epochs.value[epochs.value.length - 1] ?? null)
  const etaSeconds = computed(() => {
    const b = batch.value
    const e = lastEpoch.value
    if (!running.value) return null
    if (b) {
      const perEpoch = e?.seconds ?? (b.batches * (b.etaSeconds / Math.max(1, b.batches - b.batch)))
      return b.etaSeconds + Math.max(0, epochsPlanned.value - b.epoch) * perEpoch
    }
    return e ? e.seconds * Math.max(0, epochsPlanned.value - e.epoch) : null
  })
  const resumable = computed(() => runs.value.find((r) => (r.status === 'stopped' || r.status === 'interrupted') && r.hasLast) ?? null)

  function clearLive() {
    runId.value = null
    backend.value = null
    backendReason.value = null
    epochs.value = []
    batch.value = null
    log.value = []
    lastResult.value = null
    epochsPlanned.value = 0
    recipe.value = null
    recipeResult.value = null
  }

  function reset() {
    clearLive()
    running.value = false
    stopping.value = false
    error.value = null
    runs.value = []
    overlays.value = {}
    shown.value = []
  }
  watch(dir, reset)

  /** Listens to this project's training events (once per store). */
  function subscribe() {
    if (unsubscribe) return
    unsubscribe = useApi().on('training', ({ dir: d, event, recipe: step }) => {
      if (d !== dir.value) return
      if (step) recipe.value = step
      // A stage of a recipe that has later steps: the recipe goes on after its 'done'.
      const more = !!step && step.index < step.total - 1
      switch (event.type) {
        case 'start':
          running.value = true
          lastResult.value = null
          runId.value = event.runId
          backend.value = event.backend
          backendReason.value = event.reason
          epochsPlanned.value = event.epochs
          if (event.resumedFromEpoch === 0) epochs.value = []
          break
        case 'batch':
          batch.value = { epoch: event.epoch, batch: event.batch, batches: event.batches, imagesPerSecond: event.imagesPerSecond, etaSeconds: event.etaSeconds, loss: event.loss, accuracy: event.accuracy }
          break
        case 'epoch': {
          const { type: _t, ...m } = event
          void _t
          epochs.value = [...epochs.value.filter((x) => x.epoch !== m.epoch), m]
          break
        }
        case 'log':
          log.value = [...log.value.slice(-49), event.message]
          break
        case 'done':
          running.value = more && !event.result.stopped
          if (!running.value) stopping.value = false
          batch.value = null
          epochs.value = event.result.epochs.length ? event.result.epochs : epochs.value
          if (!running.value) lastResult.value = { stoppedEarly: event.result.stoppedEarly, stopped: event.result.stopped, bestEpoch: event.result.best.epoch }
          void loadRuns()
          break
        case 'recipe-done':
          running.value = false
          stopping.value = false
          recipeResult.value = event.evaluation
          break
        case 'error':
          running.value = false
          stopping.value = false
          batch.value = null
          // A recipe stopped by the user ends with a CANCELLED error after its 'done' (stopped): not an error.
          if (event.error.code !== 'CANCELLED') error.value = { message: event.error.message, hint: event.error.hint }
          void loadRuns()
          break
      }
    })
  }

  async function loadRuns() {
    if (!dir.value) return
    try {
      runs.value = await useApi().training.runs({ dir: dir.value })
      runsError.value = null
    } catch (err) {
      runsError.value = toUiError(err)
    }
  }

  /** Once per opened project: an example's recipe, else the one-click defaults. */
  function setupForm() {
    if (formDir === dir.value) return
    formDir = dir.value
    const fromExample = formFromExample(projects.current?.state)
    const st = projects.current?.state?.example as { name?: string; stages?: { title?: string }[]; inputSize?: unknown } | undefined
    const size = ExampleState.shape.inputSize.safeParse(st?.inputSize)
    const inputSize = (size.success && size.data) || null
    example.value = fromExample ? { title: String(st?.name ?? 'example'), stage: String(st?.stages?.[0]?.title ?? ''), stages: st?.stages?.length ?? 1, form: { ...fromExample }, extras: exampleExtras(projects.current?.state), inputSize } : null
    Object.assign(form, fromExample ?? defaultForm())
  }
  // The example's optimizer belongs to its recipe: switching recipe falls back to that recipe's default.
  watch(
    () => form.recipe,
    (recipe) => {
      const ex = example.value?.form
      form.optimizer = ex && ex.recipe === recipe ? ex.optimizer : null
    },
  )

  /** After a (re)load: the running run's curves, or the latest run's. */
  async function load() {
    if (!dir.value) return
    setupForm()
    subscribe()
    const d = dir.value
    try {
      const st = await useApi().training.status({ dir: d })
      running.value = st.running
      if (st.running) {
        runId.value = st.runId
        backend.value = st.backend
        epochs.value = st.epochs
        recipe.value = st.recipe
      }
    } catch (err) {
      error.value = toUiError(err)
    }
    await loadRuns()
    if (!running.value && epochs.value.length === 0 && runs.value.length > 0) {
      const latest = [...runs.value].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]
      await showRun(latest.runId, true)
    }
  }

  /** Loads a past run's curves; `asMain` shows it as the main chart (e.g. after a reload). */
  async function showRun(id: string, asMain = false) {
    if (!dir.value) return
    try {
      const detail = await useApi().training.run({ dir: dir.value, runId: id })
      overlays.value = { ...overlays.value, [id]: detail.epochs }
      if (asMain) {
        runId.value = id
        epochs.value = detail.epochs
        backend.value = detail.run.backend
        epochsPlanned.value = detail.run.epochsPlanned
      } else if (!shown.value.includes(id)) shown.value = [...shown.value, id]
    } catch (err) {
      runsError.value = toUiError(err)
    }
  }

  function hideRun(id: string) {
    shown.value = shown.value.filter((x) => x !== id)
  }

  /** Starts a background job (a run or a recipe); its progress then arrives as 'training' events. */
  async function launch(call: (dir: string) => Promise<{ runId: string | null }>, planned = 0) {
    if (!dir.value || running.value) return
    subscribe()
    error.value = null
    clearLive()
    running.value = true
    epochsPlanned.value = planned
    try {
      const res = await call(dir.value)
      if (res.runId) runId.value = res.runId
    } catch (err) {
      running.value = false
      error.value = toUiError(err)
    }
  }

  function start(extra: Partial<TrainOptionsInput> = {}) {
    const ex = example.value
    const options = formToOptions(form, { ...(ex && ex.form.recipe === form.recipe ? ex.extras.options : {}), ...extra })
    // A custom CNN chosen in the Model view (or preset by an example): train exactly its
    // layers. Named explicitly: the bridge fills the recipe's defaults before the service runs.
    const chosen = useModelsStore().chosen
    if (form.recipe === 'cnn' && chosen?.type === 'cnn' && chosen.layers?.length) Object.assign(options, { recipe: 'cnn', model: chosen.preset ?? 'custom', layers: chosen.layers })
    return launch((d) => useApi().training.start({ dir: d, options: options as never }), form.epochs)
  }

  /** An example project's whole recipe: every stage, then the evaluation (examples.run). */
  function runRecipe() {
    return launch((d) => useApi().examples.run({ dir: d }))
  }

  function resume(id: string) {
    return start({ resume: id })
  }

  async function stop() {
    if (!dir.value) return
    stopping.value = true
    try {
      await useApi().training.stop({ dir: dir.value })
    } catch (err) {
      stopping.value = false
      error.value = toUiError(err)
    }
  }

  return { dir, form, example, setupForm, running, stopping, runId, backend, backendReason, epochsPlanned, epochs, batch, log, error, runs, runsError, overlays, shown, lastResult, recipe, recipeResult, lastEpoch, etaSeconds, resumable, reset, subscribe, load, loadRuns, showRun, hideRun, start, runRecipe, resume, stop }
})
