import { ModelSpec, type ModelSummary } from '../../shared/models'
import type { ModelCatalog, ModelChoice } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import { buildModelFull, CNN_PRESETS, listPresets, presetSpec, resolveModelName, summarize } from '../ml/models'
import { listRuns, loadRun } from '../ml/training/runs'
import { loadDatasetIndex } from './datasets'
import { readProject, updateProject } from './projects'

/** The model a project trains when the user has not chosen one: one-click MobileNetV2 transfer. */
export const DEFAULT_SPEC: ModelSpec = { type: 'transfer', base: 'mobilenetv2' }

export function modelCatalog(): ModelCatalog {
  return {
    presets: listPresets().map((p) => ({ name: p.name, title: p.name, description: p.description, inputShape: p.inputShape, layers: p.layers })),
    bases: [
      { name: 'mobilenetv2', title: 'MobileNetV2 transfer learning', description: 'ImageNet-pretrained MobileNetV2 base, frozen, with a new classifier on top. Fast and accurate: the one-click choice.' },
      { name: 'vgg16', title: 'VGG16 transfer learning', description: 'ImageNet-pretrained VGG16 base (14.7M parameters). Slower, a classic of the tutorials.' },
    ],
  }
}

/** The spec stored in the project, if the user chose one. */
export async function projectSpec(dir: string): Promise<ModelSpec | null> {
  const project = await readProject(dir)
  const parsed = ModelSpec.safeParse(project.state.model)
  return parsed.success ? parsed.data : null
}

/**
 * The model the project is about: the one chosen in the Model view, else the latest run's, else
 * (once there is data) the one-click default. Null for an empty project with no choice.
 */
export async function effectiveSpec(dir: string): Promise<ModelSpec | null> {
  const chosen = await projectSpec(dir)
  if (chosen) return chosen
  const [latest] = await listRuns(dir)
  if (latest?.recipe === 'cnn') {
    const { config } = await loadRun(dir, latest.runId)
    if (config.options.layers) return { type: 'cnn', layers: config.options.layers }
    if (latest.model && CNN_PRESETS[latest.model]) return presetSpec(latest.model)
  } else if (latest) return { type: 'transfer', base: latest.base ?? 'mobilenetv2' }
  return (await loadDatasetIndex(dir)) ? DEFAULT_SPEC : null
}

/** Builds a spec for the project's input and classes and summarises it, Keras-style. */
export async function specSummary(dir: string, spec: ModelSpec): Promise<ModelSummary> {
  const [project, idx] = await Promise.all([readProject(dir), loadDatasetIndex(dir)])
  const s = idx?.settings ?? project.settings
  const numClasses = Math.max(2, idx?.classes.length ?? 2)
  const { model, base } = buildModelFull(spec, { inputShape: [s.inputSize, s.inputSize, s.channels], numClasses })
  // Transfer learning trains a new head on a frozen base: show it as Keras would then.
  if (base) base.trainable = false
  try {
    return summarize(model)
  } finally {
    model.dispose()
  }
}

/** Summary of a named model (preset or base without top), of a spec, or of the project's model. */
export async function modelSummary(q: { dir?: string; name?: string; spec?: ModelSpec }): Promise<ModelSummary> {
  if (q.name) {
    const { model } = resolveModelName(q.name)
    try {
      return summarize(model)
    } finally {
      model.dispose()
    }
  }
  if (!q.dir) throw new AppError('BAD_REQUEST', 'Give a model name, or a project whose model to summarise.')
  return specSummary(q.dir, q.spec ?? (await effectiveSpec(q.dir)) ?? DEFAULT_SPEC)
}

export async function chooseModel(dir: string, spec: ModelSpec): Promise<ModelChoice> {
  const summary = await specSummary(dir, spec) // validates the spec against the project's input first
  await updateProject(dir, (p) => {
    p.state.model = spec
  })
  return { spec, summary }
}
