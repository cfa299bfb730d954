import type { Progress } from '../../../shared/contract'
import { AppError } from '../../../shared/errors'
import type { ReviewResult } from '../../../shared/review'
import { loadDatasetIndex } from '../datasets'
import { findLabelIssues } from './confident-learning'
import { reviewFeatures } from './features'
import { crossValidatedProbabilities } from './softmax'

/** Folds of the out-of-sample heads (cleanlab's default) and their seed. */
export const REVIEW_FOLDS = 5
export const REVIEW_SEED = 42

export interface ReviewControl {
  signal?: AbortSignal
  onProgress?: (p: Progress) => void
}

/**
 * Probably mislabeled images: out-of-sample probabilities for every usable image from k-fold
 * softmax heads on the cached base features (no CNN is retrained), ranked by confident learning.
 */
export async function reviewDataset(dir: string, ctl: ReviewControl = {}): Promise<ReviewResult> {
  const t0 = performance.now()
  const idx = await loadDatasetIndex(dir)
  const ids = Int32Array.from((idx?.items ?? []).filter((it) => !it.excluded && !it.stale), (it) => it.id)
  if (!idx || ids.length === 0) throw new AppError('NOT_FOUND', `The project at ${dir} has no images to review.`, 'Import a folder of images first (one sub-folder per class).')
  const k = idx.classes.length
  const labels = Int32Array.from(ids, (id) => idx.items[id].label)
  if (new Set(labels).size < 2) throw new AppError('INVALID_INPUT', 'Reviewing labels needs images of at least two classes.', 'Import images of at least two labels (one folder per label).')
  const feats = await reviewFeatures(dir, idx, ids, {
    signal: ctl.signal,
    onProgress: (done, total) => ctl.onProgress?.({ phase: 'features', done, total }),
  })
  ctl.onProgress?.({ phase: 'folds', done: 0, total: REVIEW_FOLDS })
  const probs = await crossValidatedProbabilities(feats.x, labels, feats.dim, k, {
    folds: REVIEW_FOLDS,
    seed: REVIEW_SEED,
    onFold: (done) => ctl.onProgress?.({ phase: 'folds', done, total: REVIEW_FOLDS }),
  })
  const { issues, thresholds } = findLabelIssues(labels, probs, k)
  let correct = 0
  for (let i = 0; i < labels.length; i++) {
    let best = 0
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j
    if (best === labels[i]) correct++
  }
  return {
    issues: issues.map((s) => {
      const it = idx.items[ids[s.index]]
      return {
        id: it.id,
        file: it.src,
        split: it.split,
        label: idx.classes[it.label],
        suggested: idx.classes[s.suggested],
        confidence: s.selfConfidence,
        threshold: Math.min(1, thresholds[it.label]),
        suggestedProbability: probs[s.index * k + s.suggested],
        suggestedThreshold: Math.min(1, thresholds[s.suggested]),
      }
    }),
    reviewed: ids.length,
    thresholds: idx.classes.map((name, j) => ({ name, threshold: Math.min(1, thresholds[j]) })),
    features: feats.source,
    folds: REVIEW_FOLDS,
    accuracy: correct / labels.length,
    seconds: (performance.now() - t0) / 1000,
  }
}
