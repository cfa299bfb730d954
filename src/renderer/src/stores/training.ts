import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import type { ClusterJobExport, ClusterJobImport, OfficialWeights, Progress, RecipeDoneEvent, RecipeStep } from '../../../shared/contract'
import { ExampleState } from '../../../shared/examples'
import { formatAugment, ReduceLrSpec, type AugmentSpec, type EpochMetrics, type RunInfo, type TrainOptionsInput } from '../../../shared/training'
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
  /**
   * Transfer: epochs chosen from the data with early stopping (the service's one-click schedule);
   * `epochs` is then not sent. Off once the user types a number of epochs.
   */
  autoEpochs: boolean
  /** With autoEpochs: early stopping's patience is the schedule's too (off once the user changes early stopping). */
  autoPatience: boolean
  batchSize: number
  /** Empty = the recipe's default (1e-3 Adam; 1e-5 RMSprop for fine-tuning). */
  learningRate: number | null
  augment: string
  earlyStop: boolean
  patience: number
  /** Transfer / fine-tune: a Keras .h5 or TF.js model.json with the base's weights ('' = built-in or cached). */
  baseWeights: string
  /** Null = the recipe's default (Adam; RMSprop for fine-tuning). Example recipes name theirs. */
  optimizer: 'adam' | 'rmsprop' | 'sgd' | null
}

export function defaultForm(): TrainForm {
  return { recipe: 'transfer', base: 'mobilenetv2', epochs: 10, autoEpochs: true, autoPatience: true, batchSize: 32, learningRate: null, augment: '', earlyStop: true, patience: 3, baseWeights: '', optimizer: null }
}

/** The form as training.start options (what the CLI's flags would build). */
export function formToOptions(f: TrainForm, extra: Partial<TrainOptionsInput> = {}): TrainOptionsInput {
  const auto = formAutoEpochs(f)
  const o: TrainOptionsInput = { recipe: f.recipe, ...(auto ? { autoEpochs: true } : { epochs: f.epochs }), batchSize: f.batchSize, augment: f.augment.trim() || 'none', ...(auto && f.autoPatience && f.earlyStop ? {} : { earlyStop: f.earlyStop ? f.patience : false }), ...extra }
  if (f.recipe !== 'cnn') {
    o.base = f.base
    if (f.baseWeights.trim()) o.baseWeights = f.baseWeights.trim()
  }
  if (f.learningRate != null && f.learningRate > 0) o.learningRate = f.learningRate
  if (f.optimizer) o.optimizer = f.optimizer
  return o
}

/** Whether the form leaves the epochs to the service's schedule (transfer only: the other recipes take a number). */
export function formAutoEpochs(f: Pick<TrainForm, 'recipe' | 'autoEpochs'>): boolean {
  return f.recipe === 'transfer' && f.autoEpochs
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
  // An example's recipe names its epochs and early stopping (a stage without epochs keeps the schedule).
  f.autoEpochs = num(stage.epochs) === undefined && stage.autoEpochs !== false
  f.autoPatience = f.autoEpochs && stage.earlyStop === undefined
  f.batchSize = num(stage.batchSize) ?? f.batchSize
  f.learningRate = num(stage.learningRate) ?? null
  if (typeof stage.augment === 'string') f.augment = stage.augment === 'none' ? '' : stage.augment
  const es = stage.earlyStop
  if (es === false || (es === undefined && !f.autoPatience)) f.earlyStop = false
  else if (typeof es === 'number') Object.assign(f, { earlyStop: true, patience: es })
  else if (typeof es === 'object' && es) Object.assign(f, { earlyStop: true, patience: num((es as { patience?: unknown }).patience) ?? 3 })
  if (typeof stage.baseWeights === 'string') f.baseWeights = stage.baseWeights
  if (stage.optimizer === 'adam' || stage.optimizer === 'rmsprop' || stage.optimizer === 'sgd') f.optimizer = stage.optimizer
  return f
}

/**
 * The form a run was started with, from its saved options (config.json's `options`, defaults
 * filled), so a reloaded page shows what is really running. Null when unreadable.
 */
export function formFromRunOptions(options: unknown): TrainForm | null {
  if (!options || typeof options !== 'object') return null
  const o = options as Record<string, unknown>
  const f = defaultForm()
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
  if (o.recipe === 'transfer' || o.recipe === 'finetune' || o.recipe === 'cnn') f.recipe = o.recipe
  if (o.base === 'mobilenetv2' || o.base === 'vgg16') f.base = o.base
  f.epochs = num(o.epochs) ?? f.epochs
  // A run on the automatic schedule stores the epochs and patience it chose: the form keeps the
  // schedule (the next Start chooses again from the data).
  f.autoEpochs = o.autoEpochs === true
  f.autoPatience = f.autoEpochs
  f.batchSize = num(o.batchSize) ?? f.batchSize
  f.learningRate = num(o.learningRate) ?? null
  if (typeof o.augment === 'string') f.augment = o.augment === 'none' ? '' : o.augment
  else if (o.augment && typeof o.augment === 'object') {
    const text = formatAugment(o.augment as AugmentSpec)
    f.augment = text === 'none' ? '' : text
  }
  const es = o.earlyStop
  if (es === false || es === undefined || es === null) f.earlyStop = false
  else if (typeof es === 'number') Object.assign(f, { earlyStop: true, patience: es })
  else if (typeof es === 'object') Object.assign(f, { earlyStop: true, patience: num((es as { patience?: unknown }).patience) ?? 3 })
  f.baseWeights = typeof o.baseWeights === 'string' ? o.baseWeights : ''
  f.optimizer = o.optimizer === 'adam' || o.optimizer === 'rmsprop' || o.optimizer === 'sgd' ? o.optimizer : null
  return f
}

/** "Computing base features: 120/2000 images" (the transfer recipe's one pass over the frozen base). */
export function parseFeatureProgress(message: string): { done: number; total: number } | null {
  const m = /^Computing base features: (\d+)\/(\d+) images/.exec(message)
  return m ? { done: Number(m[1]), total: Number(m[2]) } : null
}

/**
 * A steady ETA from the loop's batch events: an exponential moving average of seconds per
 * batch (the loop's own estimate restarts every epoch, so it jumps), plus the time each epoch
 * spends beyond its batches (validation, checkpoints), learned from the epoch events.
 */
export class EtaEstimator {
  private spb: number | null = null
  private overhead = 0
  private last: BatchProgress | null = null
  constructor(private readonly alpha = 0.2) {}

  reset() {
    this.spb = null
    this.overhead = 0
    this.last = null
  }

  /** Batches left in the run after this batch event. */
  static remainingBatches(b: BatchProgress, planned: number): number {
    return Math.max(0, b.batches - b.batch) + Math.max(0, planned - b.epoch) * b.batches
  }

  batch(b: BatchProgress, planned: number) {
    this.last = b
    const rem = EtaEstimator.remainingBatches(b, planned)
    if (rem <= 0 || !Number.isFinite(b.etaSeconds) || b.etaSeconds <= 0) return
    // The loop's estimate covers the rest of the run at this epoch's average rate.
    const s = b.etaSeconds / rem
    this.spb = this.spb == null ? s : this.spb + this.alpha * (s - this.spb)
  }

  epoch(e: EpochMetrics) {
    const b = this.last
    if (!b || this.spb == null || !(e.seconds > 0)) return
    const extra = Math.max(0, e.seconds - b.batches * this.spb)
    this.overhead = this.overhead === 0 ? extra : this.overhead + 0.5 * (extra - this.overhead)
  }

  /** Seconds left, never below 1 while work remains; null before the first estimate. */
  seconds(planned: number): number | null {
    const b = this.last
    if (!b || this.spb == null || planned <= 0) return null
    const rem = EtaEstimator.remainingBatches(b, planned)
    // This epoch's validation is still ahead, then every later epoch's.
    const epochsLeft = Math.max(0, planned - b.epoch) + 1
    return Math.max(1, rem * this.spb + epochsLeft * this.overhead)
  }
}

/** Stage options the form has fields for (the model preset is the Models store's). */
const FORM_KEYS = new Set(['recipe', 'base', 'model', 'epochs', 'autoEpochs', 'batchSize', 'learningRate', 'augment', 'earlyStop', 'baseWeights', 'optimizer'])

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
  /** Training threads of the shown run (data-parallel on wasm); null when unknown. */
  const threads = ref<number | null>(null)
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
  const lastResult = ref<{ stoppedEarly: boolean; stopped: boolean; bestEpoch: number; stillImproving: boolean; weightsNote: string | null } | null>(null)
  /** The step of an example's recipe running (Run the whole recipe), and how the recipe ended. */
  const recipe = ref<RecipeStep | null>(null)
  const recipeResult = ref<RecipeDoneEvent['evaluation'] | null>(null)
  let unsubscribe: (() => void) | null = null
  /**
   * Whether the user typed a number of epochs since the form was last set (by a project, a run or
   * a start): only then does Resume send a new total; otherwise the run keeps its own.
   */
  const epochsEdited = ref(false)
  /** The project whose settings the form was last set up for. */
  let formDir: string | null = null
  /** The example recipe the form started from (its first stage), if any. */
  const example = ref<{ title: string; stage: string; stages: number; form: TrainForm; extras: ReturnType<typeof exampleExtras>; inputSize: { size: number; why: string } | null } | null>(null)

  /** The transfer recipe's feature pass (before the first epoch), from its log lines. */
  const features = ref<{ done: number; total: number } | null>(null)
  const eta = new EtaEstimator()
  const etaValue = ref<number | null>(null)

  const lastEpoch = computed(() => epochs.value[epochs.value.length - 1] ?? null)
  /** Smoothed seconds left (never 0 while running); null when unknown or idle. */
  const etaSeconds = computed(() => (running.value ? etaValue.value : null))
  const resumable = computed(() => runs.value.find((r) => (r.status === 'stopped' || r.status === 'interrupted') && r.hasLast) ?? null)

  function clearLive() {
    runId.value = null
    backend.value = null
    backendReason.value = null
    threads.value = null
    epochs.value = []
    batch.value = null
    log.value = []
    lastResult.value = null
    epochsPlanned.value = 0
    recipe.value = null
    recipeResult.value = null
    features.value = null
    eta.reset()
    etaValue.value = null
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
  // Nothing to stop once nothing runs: a stale "Stopping…" would block Stop in the next run.
  watch(running, (r) => {
    if (!r) {
      stopping.value = false
      features.value = null
    }
  })

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
          threads.value = event.threads ?? null
          epochsPlanned.value = event.epochs
          batch.value = null
          features.value = null
          eta.reset()
          etaValue.value = null
          if (event.resumedFromEpoch === 0) epochs.value = []
          // The form shows what really runs (a resumed run's or a recipe stage's saved settings).
          void syncFormFromRun(event.runId, event.resumedFromEpoch)
          break
        case 'batch':
          features.value = null
          batch.value = { epoch: event.epoch, batch: event.batch, batches: event.batches, imagesPerSecond: event.imagesPerSecond, etaSeconds: event.etaSeconds, loss: event.loss, accuracy: event.accuracy }
          // The estimate needs the planned epochs (a reloaded page learns them from the run's config).
          if (epochsPlanned.value > 0) eta.batch(batch.value, epochsPlanned.value)
          etaValue.value = eta.seconds(epochsPlanned.value)
          break
        case 'epoch': {
          const { type: _t, ...m } = event
          void _t
          epochs.value = [...epochs.value.filter((x) => x.epoch !== m.epoch), m]
          eta.epoch(m)
          etaValue.value = eta.seconds(epochsPlanned.value)
          break
        }
        case 'log': {
          log.value = [...log.value.slice(-49), event.message]
          const fp = parseFeatureProgress(event.message)
          if (fp) features.value = fp.done < fp.total ? fp : null
          else if (/^Using cached base features|^Training the head on cached/.test(event.message)) features.value = null
          break
        }
        case 'done':
          running.value = more && !event.result.stopped
          if (!running.value) stopping.value = false
          batch.value = null
          epochs.value = event.result.epochs.length ? event.result.epochs : epochs.value
          if (!running.value)
            lastResult.value = { stoppedEarly: event.result.stoppedEarly, stopped: event.result.stopped, bestEpoch: event.result.best.epoch, stillImproving: !!event.result.stillImproving, weightsNote: event.result.weightsNote ?? null }
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
          // A run that failed before its first epoch (e.g. a resume) leaves the latest run's curves on screen.
          void loadRuns().then(showLatestIfEmpty)
          break
      }
    })
  }

  /** Sets the form from a run's saved options (what is running, after a reload or on its start). */
  async function syncFormFromRun(id: string | null, resumedFromEpoch = 0) {
    if (!dir.value || !id) return
    try {
      const detail = await useApi().training.run({ dir: dir.value, runId: id })
      if (runId.value !== id) return
      if (detail.run.epochsPlanned) epochsPlanned.value = detail.run.epochsPlanned
      // A resumed run: the epochs it had before the stop are part of its curves.
      if (resumedFromEpoch > 0) {
        const earlier = detail.epochs.filter((e) => e.epoch <= resumedFromEpoch && !epochs.value.some((x) => x.epoch === e.epoch))
        epochs.value = [...earlier, ...epochs.value].sort((a, b) => a.epoch - b.epoch)
      }
      const fromRun = formFromRunOptions((detail.config as { options?: unknown } | null)?.options)
      if (fromRun) {
        formDir = dir.value
        Object.assign(form, fromRun)
        epochsEdited.value = false
      }
    } catch {
      // Its config may not be written yet; the form keeps what started it.
    }
  }

  /** With no live curves, shows the latest run's (after a reload, or a run that failed to start). */
  async function showLatestIfEmpty() {
    if (running.value || epochs.value.length > 0 || runs.value.length === 0) return
    // The latest run with curves (one stopped or failed before its first epoch has none to show).
    const byDate = [...runs.value].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    const latest = byDate.find((r) => r.epochsDone > 0) ?? byDate[0]
    await showRun(latest.runId, true)
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
    epochsEdited.value = false
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
        threads.value = st.threads
        epochs.value = st.epochs
        recipe.value = st.recipe
        // The running run's real settings and planned epochs (its saved options), not the defaults.
        const extra = st as { epochsPlanned?: number; options?: unknown }
        if (extra.epochsPlanned) epochsPlanned.value = extra.epochsPlanned
        const fromStatus = formFromRunOptions(extra.options)
        if (fromStatus) {
          Object.assign(form, fromStatus)
          epochsEdited.value = false
        }
        if (!fromStatus || !extra.epochsPlanned) await syncFormFromRun(st.runId)
      }
    } catch (err) {
      error.value = toUiError(err)
    }
    await loadRuns()
    await showLatestIfEmpty()
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
        threads.value = detail.run.threads ?? null
        epochsPlanned.value = detail.run.epochsPlanned
      } else if (!shown.value.includes(id)) shown.value = [...shown.value, id]
    } catch (err) {
      runsError.value = toUiError(err)
    }
  }

  function hideRun(id: string) {
    shown.value = shown.value.filter((x) => x !== id)
  }

  /**
   * Starts a background job (a run or a recipe); its progress then arrives as 'training' events.
   * `keep`: the run being resumed, whose curves stay on the chart (also when the resume fails).
   */
  async function launch(call: (dir: string) => Promise<{ runId: string | null }>, planned = 0, keep: string | null = null) {
    if (!dir.value || running.value) return
    subscribe()
    error.value = null
    const kept = keep && runId.value === keep ? { epochs: epochs.value, backend: backend.value } : null
    clearLive()
    if (kept) {
      runId.value = keep
      epochs.value = kept.epochs
      backend.value = kept.backend
    }
    epochsEdited.value = false
    stopping.value = false
    running.value = true
    epochsPlanned.value = planned
    try {
      const res = await call(dir.value)
      if (res.runId) runId.value = res.runId
    } catch (err) {
      running.value = false
      error.value = toUiError(err)
      await loadRuns()
      await showLatestIfEmpty()
    }
  }

  function start(extra: Partial<TrainOptionsInput> = {}) {
    const options = startOptions(extra)
    return launch((d) => useApi().training.start({ dir: d, options: options as never }), 'epochs' in options && typeof options.epochs === 'number' ? options.epochs : 0)
  }

  /** An example project's whole recipe: every stage, then the evaluation (examples.run). */
  function runRecipe() {
    return launch((d) => useApi().examples.run({ dir: d }))
  }

  /** The total a Resume would send: the typed epochs when the user changed them, else null (the run's own). */
  function resumeTotal(run: Pick<RunInfo, 'epochsDone' | 'epochsPlanned'>): number | null {
    return epochsEdited.value && form.epochs !== run.epochsPlanned && form.epochs > run.epochsDone ? form.epochs : null
  }

  /**
   * Continues a stopped or interrupted run with its own saved settings (the service repeats
   * them): only the run id goes, plus a new total of epochs when the user typed one. Its earlier
   * epochs stay on the chart; a resume that fails leaves the run stopped and Resume offered.
   */
  async function resume(id: string, more?: number) {
    if (!dir.value || running.value) return
    const run = runs.value.find((r) => r.runId === id)
    // `more`: a new total (Resume with more epochs, for a run still improving at its last epoch).
    const total = more ?? (run ? resumeTotal(run) : null)
    const options: TrainOptionsInput = total != null ? { resumeRunId: id, epochs: total } : { resumeRunId: id }
    if (runId.value !== id || epochs.value.length === 0) await showRun(id, true)
    // The form shows the settings the run continues with (its own), with the new total if any.
    await syncFormFromRun(id)
    if (total != null) form.epochs = total
    return launch((d) => useApi().training.start({ dir: d, options: options as never }), total ?? run?.epochsPlanned ?? 0, id)
  }

  /** The run the view shows (live or latest) as listed, for its still-improving flag and weights note. */
  const shownRun = computed(() => runs.value.find((r) => r.runId === runId.value) ?? null)
  /** The shown run's best epoch was its last of a full run: training longer may help. */
  const stillImproving = computed(() => !running.value && (lastResult.value?.stillImproving ?? shownRun.value?.stillImproving ?? false))
  /** Plain-words advice about the base's weights for the shown run (set for the built-in MobileNetV2 weights). */
  const weightsNote = computed(() => (running.value ? null : (lastResult.value?.weightsNote ?? shownRun.value?.weightsNote ?? null)))
  /** The total "Resume with more epochs" sends: twice the run's epochs (as the CLI's hint says). */
  const moreEpochs = computed(() => Math.min(10_000, Math.max(1, (shownRun.value?.epochsPlanned ?? epochsPlanned.value) * 2)))

  /** The official ImageNet weights for this project's base and image size (cached or not). */
  const official = ref<OfficialWeights | null>(null)
  const weightsProgress = ref<{ phase: string; done: number; total: number; message?: string } | null>(null)
  const weightsError = ref<UiError | null>(null)
  const weightsQuery = () => ({ base: form.base, inputSize: projects.current?.settings.inputSize })
  async function checkWeights() {
    try {
      official.value = await useApi().models.weights(weightsQuery())
    } catch {
      official.value = null
    }
  }
  /** Downloads the official weights once (with progress); the next transfer run uses them. */
  async function downloadWeights() {
    if (weightsProgress.value) return
    weightsError.value = null
    weightsProgress.value = { phase: 'download', done: 0, total: 0 }
    try {
      official.value = await useApi().models.downloadWeights(weightsQuery(), { onProgress: (p) => (weightsProgress.value = { phase: p.phase, done: p.done, total: p.total, message: p.message }) })
    } catch (err) {
      weightsError.value = toUiError(err)
    } finally {
      weightsProgress.value = null
    }
  }

  /** "torchrun (2 workers, cpu)": where a run was trained when not in the app, else null. */
  function originText(r: Pick<RunInfo, 'origin'>): string | null {
    const o = r.origin
    if (!o) return null
    return `${o.kind} (${o.worldSize} worker${o.worldSize === 1 ? '' : 's'}${o.nodes > 1 ? ` on ${o.nodes} nodes` : ''}, ${o.device})`
  }

  /** Run on a cluster: the job folder (typed, or the default inside the project's exports/), the export, the import. */
  const cluster = reactive({ out: '', overwrite: false, jobDir: '', exporting: false, importing: false, progress: null as Progress | null, exported: null as ClusterJobExport | null, imported: null as ClusterJobImport | null, exportError: null as UiError | null, importError: null as UiError | null })
  /** `<project>/exports/<project name>-job`: the one place inside a project the ownership rule lets an export write. */
  const suggestedJobOut = computed(() => {
    if (!dir.value) return ''
    const slug = (projects.current?.name ?? 'project').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'project'
    return `${dir.value}/exports/${slug}-job`
  })
  watch(dir, () => Object.assign(cluster, { out: '', overwrite: false, jobDir: '', exporting: false, importing: false, progress: null, exported: null, imported: null, exportError: null, importError: null }))

  /** The options Start would send (form, example extras, the chosen custom CNN). */
  function startOptions(extra: Partial<TrainOptionsInput> = {}): TrainOptionsInput {
    const ex = example.value
    const options = formToOptions(form, { ...(ex && ex.form.recipe === form.recipe ? ex.extras.options : {}), ...extra })
    // A custom CNN chosen in the Model view (or preset by an example): train exactly its
    // layers. Named explicitly: the bridge fills the recipe's defaults before the service runs.
    const chosen = useModelsStore().chosen
    if (form.recipe === 'cnn' && chosen?.type === 'cnn' && chosen.layers?.length) Object.assign(options, { recipe: 'cnn', model: chosen.preset ?? 'custom', layers: chosen.layers })
    return options
  }

  /** Exports a torchrun job with the form's settings (training.exportJob, as `job export`); the import field then proposes its folder. */
  async function exportJob() {
    if (!dir.value || cluster.exporting) return
    const d = dir.value
    Object.assign(cluster, { exporting: true, progress: null, exportError: null, exported: null })
    try {
      const out = cluster.out.trim() || suggestedJobOut.value
      const r = await useApi().training.exportJob({ dir: d, out, overwrite: cluster.overwrite || undefined, options: startOptions() as never }, { onProgress: (p) => (cluster.progress = p) })
      cluster.exported = r
      if (!cluster.jobDir.trim()) cluster.jobDir = r.dir
    } catch (err) {
      cluster.exportError = toUiError(err)
    } finally {
      cluster.exporting = false
      cluster.progress = null
    }
  }

  /** Imports a finished job (training.importJob, as `job import`): a new run in Past runs, with its origin. */
  async function importJob() {
    if (!dir.value || cluster.importing) return
    const d = dir.value
    const jobDir = cluster.jobDir.trim()
    Object.assign(cluster, { importError: null, imported: null })
    if (!jobDir) {
      cluster.importError = { message: 'Which job folder?', hint: 'Type the folder the job was exported to (it holds job.json, train.py and, once run, output/).' }
      return
    }
    cluster.importing = true
    try {
      cluster.imported = await useApi().training.importJob({ dir: d, jobDir })
      await loadRuns()
      if (!running.value) await showRun(cluster.imported.runId, true)
    } catch (err) {
      cluster.importError = toUiError(err)
    } finally {
      cluster.importing = false
    }
  }

  async function stop() {
    // Only a running job can be stopped; pressing it otherwise must not leave "Stopping…" behind.
    if (!dir.value || !running.value || stopping.value) return
    stopping.value = true
    try {
      await useApi().training.stop({ dir: dir.value })
    } catch (err) {
      stopping.value = false
      error.value = toUiError(err)
    }
  }

  return { dir, form, epochsEdited, resumeTotal, example, setupForm, shownRun, stillImproving, weightsNote, moreEpochs, official, weightsProgress, weightsError, checkWeights, downloadWeights, cluster, suggestedJobOut, exportJob, importJob, originText, running, stopping, runId, backend, backendReason, threads, epochsPlanned, epochs, batch, log, error, runs, runsError, overlays, shown, lastResult, recipe, recipeResult, features, lastEpoch, etaSeconds, resumable, reset, subscribe, load, loadRuns, showRun, hideRun, start, runRecipe, resume, stop }
})
