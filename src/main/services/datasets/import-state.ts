import { createHash } from 'node:crypto'
import type { ImportOptionsParsed, ImportProgress, SkippedFile } from '../../../shared/datasets'
import type { ProjectSettings, Split } from '../../../shared/project'
import { ChunkWriter, type DatasetIndex } from './cache'

export interface ImportControl {
  onProgress?: (p: ImportProgress) => void
  signal?: AbortSignal
  /** Image files decoded at once; by default twice the cores, so both sharp's threads and file reads stay busy. */
  concurrency?: number
}

/** A decoded image written to the chunks, not yet in the index. */
export interface NewItem {
  /** Its place in the source (the index lists new items in this order, whatever finished first). */
  order: number
  src: string
  labelName: string
  split?: Split
  chunk: number
  slot: number
  hash: string
  w: number
  h: number
}

/** A source file's new index record: the orders of its new items, or the ids it keeps. */
export interface FileUpdate {
  size: number
  mtimeMs: number
  orders: number[]
  keepIds?: number[]
}

/** One import between its phases: what decoding found, which the commit writes into `idx`. */
export interface ImportState {
  /** The index being extended (a copy until the commit). */
  idx: DatasetIndex
  settings: ProjectSettings
  opts: ImportOptionsParsed
  writer: ChunkWriter
  newItems: NewItem[]
  skipped: SkippedFile[]
  fileUpdates: Record<string, FileUpdate>
  /** Images already in the project from unchanged source files. */
  unchanged: number
  /** Source files whose old items become stale. */
  toRedo: Set<string>
  /** Cancelled while decoding: what was decoded so far is committed. */
  aborted: boolean
}

export function newImportState(projectDir: string, idx: DatasetIndex, settings: ProjectSettings, opts: ImportOptionsParsed): ImportState {
  const nextChunk = idx.chunks.reduce((m, c) => Math.max(m, parseInt(c.file.slice(1), 10) + 1), 0)
  const writer = new ChunkWriter(projectDir, idx.itemBytes, nextChunk)
  return { idx, settings, opts, writer, newItems: [], skipped: [], fileUpdates: {}, unchanged: 0, toRedo: new Set(), aborted: false }
}

export const contentHash = (b: Uint8Array) => createHash('sha1').update(b).digest('hex').slice(0, 24)

/**
 * False for a source file the index has as it is now (same size and time, every item current),
 * which is counted as unchanged (`countItems`: each of its items); a changed one's old items are
 * to be marked stale.
 */
export function needsDecoding(s: ImportState, path: string, st: { size: number; mtimeMs: number }, countItems: boolean): boolean {
  const rec = s.idx.files[path]
  if (rec && rec.size === st.size && rec.mtimeMs === st.mtimeMs && rec.ids.every((i) => s.idx.items[i] && !s.idx.items[i].stale)) {
    s.unchanged += countItems ? rec.ids.length : 1
    return false
  }
  if (rec) s.toRedo.add(path)
  return true
}

/** Content hash -> source of the images the project keeps, to skip the same image imported twice. */
export function activeHashes(s: ImportState): Map<string, string> {
  const m = new Map<string, string>()
  for (const it of s.idx.items) if (!it.excluded && !it.stale && !s.toRedo.has(it.src.replace(/#\d+$/, ''))) m.set(it.hash, it.src)
  return m
}

/** Whether the import was cancelled (then marked aborted). */
export function abortSeen(s: ImportState, signal: AbortSignal | undefined): boolean {
  if (!signal?.aborted) return false
  s.aborted = true
  return true
}

/** Decode progress, at most every 150 ms unless forced. */
export class Progress {
  private t0 = Date.now()
  private last = 0
  constructor(
    private cb: ImportControl['onProgress'],
    readonly phase: ImportProgress['phase'],
    public total: number,
  ) {}
  tick(done: number, force = false) {
    if (!this.cb) return
    const now = Date.now()
    if (!force && now - this.last < 150) return
    this.last = now
    const secs = (now - this.t0) / 1000
    const rate = secs > 0 ? done / secs : 0
    this.cb({ phase: this.phase, done, total: this.total, rate, etaSeconds: rate > 0 && this.total >= done ? (this.total - done) / rate : null })
  }
}
