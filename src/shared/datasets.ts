import { z } from 'zod'
import { ResizeMode, Split } from './project'

/** Options of one import. Sizes/modes only take effect on a project's first import. */
export const ImportOptions = z.object({
  /** Side of the square model input; default 224 for image folders, the dataset's own size for IDX/CSV. */
  size: z.number().int().min(8).max(1024).optional(),
  resize: ResizeMode.optional(),
  /** Fill colour (#rrggbb) for `pad` and for compositing transparent pixels. */
  background: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'Use a colour like #ffffff.').optional(),
  /** Share of each class put in validation when the source has no split of its own. */
  val: z.number().min(0).max(0.9).default(0.2),
  /** Share of each class put in test when the source has no split of its own. */
  test: z.number().min(0).max(0.9).default(0),
  seed: z.number().int().default(42),
  /** Put all of the source into this one split (e.g. a tutorial's separate test CSV). */
  split: Split.optional(),
  /** Decompression-bomb guard: images with more pixels than this are skipped. */
  maxPixels: z.number().int().positive().default(100_000_000),
  /** Images with a side shorter than this are skipped as too small to learn from. */
  minSide: z.number().int().min(1).default(8),
}).refine((o) => o.val + o.test < 1, { message: 'val + test must leave some images for training (their sum must be below 1).' })
export type ImportOptions = z.input<typeof ImportOptions>
export type ImportOptionsParsed = z.output<typeof ImportOptions>

export type SourceKind = 'folder' | 'idx' | 'csv'

export interface ImportProgress {
  phase: 'scan' | 'decode' | 'commit' | 'health' | 'done'
  done: number
  total: number
  /** Items per second in this phase. */
  rate: number
  /** Seconds left in this phase, null while unknown. */
  etaSeconds: number | null
}

export interface SkippedFile {
  path: string
  reason: string
}

export interface DuplicateGroup {
  /** Dataset item ids with identical content. */
  ids: number[]
  sources: string[]
  splits: Split[]
}

export interface DatasetHealth {
  warnings: string[]
  perClass: { name: string; train: number; validation: number; test: number }[]
  /** Largest class count / smallest class count (over non-excluded items). */
  imbalanceRatio: number
  /** Items whose original shorter side is under half the input size. */
  smallImages: number
  smallExamples: string[]
  /**
   * The small images themselves (the first SMALL_LIST_MAX, smallest first): id for the
   * thumbnail, source file and original size, for the Data view's list.
   */
  small?: { id: number; src: string; w: number; h: number }[]
}

export interface ImportSummary {
  kind: SourceKind
  /** Classes of the whole dataset after the import, natural order. */
  classes: { name: string; count: number }[]
  /** Split counts of the whole dataset after the import (excluded items left out). */
  splits: { train: number; validation: number; test: number }
  /** Images of this source that are now in the dataset (added + unchanged). */
  total: number
  added: number
  /** Already imported before and unchanged (not decoded again). */
  unchanged: number
  skipped: SkippedFile[]
  duplicates: { exact: number; crossSplit: number; examples: DuplicateGroup[] }
  health: DatasetHealth
  settings: { inputSize: number; resizeMode: ResizeMode; background: string; channels: 1 | 3 }
  seconds: number
}

/** One item of the dataset index (kept small: the index of 70k items must load fast). */
export interface DatasetItem {
  id: number
  /** Absolute source path; `path#n` for the n-th record of an IDX/CSV file. */
  src: string
  label: number
  split: Split
  chunk: number
  slot: number
  /** Content hash (hex, 96 bits). */
  hash: string
  /** Original width/height before resizing. */
  w: number
  h: number
  excluded?: boolean
  /** The source file changed since: this copy is kept for old ids but no longer used. */
  stale?: boolean
}
