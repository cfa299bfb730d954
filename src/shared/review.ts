import type { Split } from './project'

/** One image the confident-learning review thinks is probably mislabeled. */
export interface ReviewIssue {
  id: number
  /** Source file (IDX/CSV records keep their #n). */
  file: string
  split: Split
  label: string
  suggested: string
  /** Out-of-sample probability of its own label (self-confidence). */
  confidence: number
  /** Its class's threshold: the mean self-confidence of the images with that label. */
  threshold: number
  /** Out-of-sample probability of the suggested label, and that class's threshold. */
  suggestedProbability: number
  suggestedThreshold: number
}

/** datasets.review: the probably mislabeled images, most suspect first, and how they were found. */
export interface ReviewResult {
  issues: ReviewIssue[]
  /** Images reviewed (every usable image of every split). */
  reviewed: number
  /** Per class: its threshold t_j. */
  thresholds: { name: string; threshold: number }[]
  /** Where the features came from, in plain words (the project's base, or the built-in MobileNetV2). */
  features: string
  folds: number
  /** Out-of-sample accuracy of the k-fold heads against the given labels. */
  accuracy: number
  seconds: number
}

/** A pair of near-duplicate images (perceptual hashes within the threshold, contents not identical). */
export interface NearDuplicatePair {
  a: { id: number; src: string; split: Split; label: string }
  b: { id: number; src: string; split: Split; label: string }
  /** Hamming distance of the two 64-bit hashes. */
  distance: number
  cosine: number
}

/** datasets.nearDuplicates: counts within and across splits and the closest pairs. */
export interface NearDuplicateReport {
  /** Most hash bits a pair may differ in. */
  threshold: number
  /** Least cosine of their low-frequency DCT coefficients. */
  minCosine: number
  withinSplit: number
  crossSplit: number
  /** Cross-split pairs first (they leak), then the closest. */
  pairs: NearDuplicatePair[]
  seconds: number
}
