import { z } from 'zod'
import { EvalSplit } from './evaluation'
import type { EpochMetrics, Recipe } from './training'

/** Two runs of a project side by side (evaluation.compare, `classifier-studio compare`). */
export const CompareOptions = z.object({
  runA: z.string().min(1, 'Name the first run to compare (runA).'),
  runB: z.string().min(1, 'Name the second run to compare (runB).'),
  split: EvalSplit.default('validation'),
})
export type CompareOptions = z.input<typeof CompareOptions>

/** How a run was trained, in the words the Train view uses. */
export interface RunSettingsSummary {
  recipe: Recipe
  /** The transfer base, or the CNN preset / 'custom' for a layer-editor CNN. */
  model: string
  epochs: number
  batchSize: number
  learningRate: number
  optimizer: string
  /** formatAugment's text ('none', 'flip,rotate=15', …). */
  augment: string
}

/** One run of a comparison: its training curves and its evaluation on the compared split. */
export interface ComparedRun {
  runId: string
  createdAt: string
  settings: RunSettingsSummary
  /** metrics.jsonl: one entry per finished epoch. */
  epochs: EpochMetrics[]
  accuracy: number
  loss: number
  macroF1: number
  labels: string[]
  confusionMatrix: number[][]
  normalized: number[][]
}

/** One run's answer for an image. */
export interface ImagePrediction {
  predicted: string
  confidence: number
}

/** An image of the split whose predicted label differs between the two runs. */
export interface ChangedImage {
  /** Dataset item id: what the thumbnail route takes. */
  id: number
  /** Its source file (an IDX/CSV record is `path#n`), '' when unknown. */
  file: string
  label: string
  a: ImagePrediction
  b: ImagePrediction
}

export interface CompareCounts {
  /** Images of the split both runs were evaluated on. */
  images: number
  changed: number
  /** Wrong in A, right in B. */
  fixed: number
  /** Right in A, wrong in B. */
  broke: number
  /** Wrong in both, with different answers. */
  bothWrong: number
}

export interface CompareResult {
  split: EvalSplit
  a: ComparedRun
  b: ComparedRun
  /** Fixed first, then broke, then both wrong; by item id within each. */
  changed: ChangedImage[]
  counts: CompareCounts
}

export type ChangeKind = 'fixed' | 'broke' | 'bothWrong'

/** fixed: wrong in A, right in B; broke: right in A, wrong in B; else both wrong (and different). */
export function changeKind(c: ChangedImage): ChangeKind {
  const rightA = c.a.predicted === c.label
  const rightB = c.b.predicted === c.label
  return rightB && !rightA ? 'fixed' : rightA && !rightB ? 'broke' : 'bothWrong'
}
