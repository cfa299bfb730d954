import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError } from '../../shared/errors'
import { defineCommand, noExtraArgs } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'summary',
  usage: 'summary [project] [--model NAME] [--json]',
  summary: "Show a project's state (dataset, model, runs) and a Keras-identical model summary.",
  help: [
    '--model NAME         summarise this model instead of the project\'s: a preset (fashion-mnist-cnn,',
    '                     sign-mnist-cnn, cats-dogs-cnn, cats-dogs-cnn-bn) or a base without top (mobilenetv2,',
    '                     mobilenetv2-0.35-160, vgg16, vgg16-160, …)',
  ],
  options: { model: { type: 'string' } },
  async run(pos, v, out) {
    const { formatSummary } = await import('../../main/ml/models')
    const { loadDatasetIndex, classCounts, splitCounts } = await import('../../main/services/datasets')
    const { modelSummary, effectiveSpec, projectSpec } = await import('../../main/services/models')
    const { projectInfo } = await import('../../main/services/projects')
    const name = v.model as string | undefined
    const dir = pos[0]
    noExtraArgs(pos, 1, this)
    if (!dir && !name) throw new UsageError('Give a project folder, --model NAME, or both.\nUsage: classifier-studio summary [project] [--model NAME] [--json]')
    const project = dir ? await projectInfo(dir) : null
    const spec = project && !name ? await effectiveSpec(project.dir) : null
    let modelError: { message: string; hint?: string } | null = null
    let summary: Awaited<ReturnType<typeof modelSummary>> | null = null
    if (name) summary = await modelSummary({ dir: project?.dir, name })
    else if (spec) {
      // The project's model cannot be built for its images (MobileNetV2 below 96 px): the state is
      // still shown, with what to do about the model.
      try {
        summary = await modelSummary({ dir: project!.dir, spec })
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== 'INVALID_INPUT') throw err
        modelError = { message: err.message, hint: err.hint }
      }
    }
    const idx = project ? await loadDatasetIndex(project.dir) : null
    const runs = project ? (await readdir(join(project.dir, 'runs')).catch(() => [] as string[])).filter((r) => !r.startsWith('.')).length : 0
    const result = {
      model: summary?.model ?? null,
      layers: summary?.layers ?? [],
      totalParams: summary?.totalParams ?? 0,
      trainableParams: summary?.trainableParams ?? 0,
      nonTrainableParams: summary?.nonTrainableParams ?? 0,
      ...(modelError && { modelError }),
      ...(project && {
        project: { name: project.name, dir: project.dir, settings: project.settings },
        dataset: { total: idx ? Object.values(splitCounts(idx)).reduce((a, b) => a + b, 0) : 0, classes: idx ? classCounts(idx) : [], splits: idx ? splitCounts(idx) : { train: 0, validation: 0, test: 0 } },
        runs,
      }),
    }
    const text: string[] = []
    if (project) {
      text.push(`Project "${project.name}" (${project.dir})`, `  input ${project.settings.inputSize}x${project.settings.inputSize}x${project.settings.channels}, resize ${project.settings.resizeMode}`)
      text.push(result.dataset!.total ? `  dataset: ${result.dataset!.total} images, ${result.dataset!.classes.length} classes (train ${result.dataset!.splits.train}, validation ${result.dataset!.splits.validation}, test ${result.dataset!.splits.test})` : '  dataset: empty (classifier-studio import <project> <folder>)')
      text.push(`  runs: ${runs}`)
    }
    if (modelError) text.push(`  model: ${spec?.type === 'transfer' ? `${spec.base === 'vgg16' ? 'VGG16' : 'MobileNetV2'} transfer learning${project && !(await projectSpec(project.dir)) ? ' (the default)' : ''}` : 'the chosen CNN'} cannot be built for these images: ${modelError.message}`, ...(modelError.hint ? [`  ${modelError.hint}`] : []))
    else text.push(summary ? formatSummary(summary) : '  model: none yet (import images; training picks MobileNetV2 transfer learning by default)')
    out.result(result, text.join('\n'))
  },
})
