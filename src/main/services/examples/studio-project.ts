import { join, resolve } from 'node:path'
import type { ProjectInfo } from '../../../shared/contract'
import { ProjectName } from '../../../shared/contract'
import { parseOrThrow } from '../../../shared/errors'
import type { ModelSpec } from '../../../shared/models'
import type { TrainOptionsInput } from '../../../shared/training'
import type { CallContext } from '../dispatch'
import { createExample } from './create'
import { presetSpec } from '../../ml/models'
import { openProject, updateProject } from '../projects'

/**
 * The studio's "Start from an example": creates the example project under `parent`, and
 * presets the Model view's choice from the recipe's first stage so Train starts the tutorial.
 */
export async function createExampleProject(parent: string, name: string, example: string, source: string | undefined, ctx: Pick<CallContext, 'onProgress' | 'signal'>): Promise<ProjectInfo> {
  const checked = parseOrThrow(ProjectName, name, 'project name', 'Pick a simple name such as "Fashion MNIST".')
  const dir = join(resolve(parent), checked)
  const r = await createExample(dir, example, { source, name: checked, signal: ctx.signal, onProgress: (p) => ctx.onProgress(p) })
  const first = r.example.stages[0]?.options as TrainOptionsInput | undefined
  if (first) {
    const spec: ModelSpec | null = first.recipe === 'cnn' && first.model ? presetSpec(first.model) : first.recipe === 'transfer' ? { type: 'transfer', base: first.base ?? 'mobilenetv2' } : null
    if (spec) await updateProject(dir, (p) => void (p.state.model = spec))
  }
  return openProject(dir)
}
