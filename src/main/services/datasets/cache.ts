import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ProjectSettings } from '../../../shared/project'
import type { DatasetItem, SkippedFile, SourceKind } from '../../../shared/datasets'
import { AppError } from '../../../shared/errors'
import { writeFileAtomic, writeFileSynced } from '../../platform/fs-atomic'
import { projectKey } from '../projects/identity'

export const DATASET_DIR = 'dataset'
export const INDEX_FILE = 'index.json'
export const INDEX_VERSION = 1

/** What is known about one source file, so an unchanged file is never decoded twice. */
export interface SourceFileRecord {
  size: number
  mtimeMs: number
  /** Item ids that came from this file (one for an image, many for IDX/CSV). */
  ids: number[]
}

export interface DatasetIndex {
  version: number
  settings: ProjectSettings
  /** Bytes per item: inputSize * inputSize * channels. */
  itemBytes: number
  classes: string[]
  items: DatasetItem[]
  /** Chunk files under dataset/chunks, each holding `count` items of `itemBytes`. */
  chunks: { file: string; count: number }[]
  files: Record<string, SourceFileRecord>
  imports: { source: string; kind: SourceKind; at: string; added: number; skipped: number; seed: number }[]
  /** Files the last import did not take, with reasons (for the Data view). */
  lastSkipped: SkippedFile[]
}

export const datasetDir = (projectDir: string) => join(projectDir, DATASET_DIR)
export const chunkPath = (projectDir: string, file: string) => join(projectDir, DATASET_DIR, 'chunks', file)

export function emptyIndex(settings: ProjectSettings): DatasetIndex {
  return { version: INDEX_VERSION, settings, itemBytes: settings.inputSize * settings.inputSize * settings.channels, classes: [], items: [], chunks: [], files: {}, imports: [], lastSkipped: [] }
}

/** The project's dataset index, or null when nothing was imported yet. */
export async function loadDatasetIndex(projectDir: string): Promise<DatasetIndex | null> {
  let text: string
  try {
    text = await readFile(join(datasetDir(projectDir), INDEX_FILE), 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  const file = join(datasetDir(projectDir), INDEX_FILE)
  let idx: DatasetIndex
  try {
    idx = JSON.parse(text) as DatasetIndex
  } catch (err) {
    throw await damagedIndex(projectDir, `it is not valid JSON (${(err as Error).message}; cut short by a crash or a full disk?)`)
  }
  if (!idx || typeof idx !== 'object' || !Array.isArray(idx.items) || !Array.isArray(idx.chunks) || !idx.settings || typeof idx.files !== 'object')
    throw await damagedIndex(projectDir, 'it does not hold a dataset index (items, chunks, settings and files are missing)')
  if (idx.version !== INDEX_VERSION)
    throw new AppError('PROJECT_DAMAGED', `${file} has version ${String(idx.version)}; this app reads version ${INDEX_VERSION}.`, 'Open the project with the app version that made it, or import the source folders into a new project.')
  return idx
}

/**
 * dataset/index.json cannot be read: which file, why, and how to get the dataset back. The
 * cached pixels are useless without it, but the source folders are untouched, so moving the
 * index aside and importing them again rebuilds it (the old chunk files are then cleaned up).
 */
async function damagedIndex(projectDir: string, why: string): Promise<AppError> {
  const file = join(datasetDir(projectDir), INDEX_FILE)
  let size = ''
  try {
    const p = JSON.parse(await readFile(join(projectDir, 'project.json'), 'utf8')) as { settings?: { inputSize?: unknown } }
    if (typeof p.settings?.inputSize === 'number') size = ` --size ${p.settings.inputSize}`
  } catch {
    /* the size is a convenience in the hint */
  }
  return new AppError(
    'PROJECT_DAMAGED',
    `The dataset index ${file} is damaged: ${why}. The imported images cannot be listed without it; your source folders and the project's runs are not affected.`,
    `To rebuild it, move the damaged file aside (e.g. rename it to index.json.damaged), then import the same source folder(s) again: classifier-studio import ${projectDir} <source>${size} (or Import in the Data view). Training runs stay; imported with the same options (--val, --test, --seed) the images get the same splits as before.`,
  )
}

const shared = new Map<string, { ino: number; mtimeMs: number; size: number; idx: DatasetIndex }>()

/**
 * The index for read-only use, parsed again only when the file changes: the studio asks for it
 * once per thumbnail, and a 70,000-image index is megabytes of JSON. Callers must not mutate it.
 */
export async function loadDatasetIndexShared(projectDir: string): Promise<DatasetIndex | null> {
  const file = join(datasetDir(projectDir), INDEX_FILE)
  const st = await stat(file).catch(() => null)
  if (!st) return null
  const key = projectKey(projectDir)
  const hit = shared.get(key)
  if (hit && hit.ino === st.ino && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.idx
  const idx = await loadDatasetIndex(projectDir)
  if (idx) shared.set(key, { ino: st.ino, mtimeMs: st.mtimeMs, size: st.size, idx })
  return idx
}

/** Writes the index atomically: chunk files it names are already on disk and synced. */
export async function saveDatasetIndex(projectDir: string, idx: DatasetIndex): Promise<void> {
  const file = join(datasetDir(projectDir), INDEX_FILE)
  try {
    await writeFileAtomic(file, JSON.stringify(idx))
  } catch (err) {
    throw new DatasetWriteError(file, err)
  }
}

/** Names the app gives its own files in dataset/: chunk files, and the index's temporary file. */
export const CHUNK_FILE_RE = /^c\d{6}\.bin$/
const INDEX_TEMP_RE = /^\.index\.json\.[0-9a-f]{12}\.tmp$/

/** A write into the dataset cache failed; `file` is the file being written. */
export class DatasetWriteError extends Error {
  constructor(
    readonly file: string,
    readonly cause: unknown,
  ) {
    super(`${(cause as Error)?.message ?? String(cause)} (writing ${file})`)
    this.name = 'DatasetWriteError'
  }
  get code(): string | undefined {
    return (this.cause as NodeJS.ErrnoException | undefined)?.code
  }
  /** The file being written, so translateError names it (a full disk is DISK_FULL "could not write <file>"). */
  get path(): string {
    return this.file
  }
  get syscall(): string {
    return 'write'
  }
}

/**
 * Removes what an interrupted import left in dataset/: chunk files no index names and the
 * index's temporary files. Only names the app itself gives (c000123.bin, .index.json.<hex>.tmp)
 * are touched, so a file a person put there stays. Call it with the import lock held.
 */
export async function removeOrphanChunks(projectDir: string, idx: DatasetIndex | null): Promise<string[]> {
  const removed: string[] = []
  const keep = new Set((idx?.chunks ?? []).map((c) => c.file))
  const dir = join(datasetDir(projectDir), 'chunks')
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    if (!CHUNK_FILE_RE.test(n) || keep.has(n)) continue
    await rm(join(dir, n), { force: true })
    removed.push(join(dir, n))
  }
  for (const n of await readdir(datasetDir(projectDir)).catch(() => [] as string[])) {
    if (!INDEX_TEMP_RE.test(n)) continue
    await rm(join(datasetDir(projectDir), n), { force: true })
    removed.push(join(datasetDir(projectDir), n))
  }
  return removed
}

/**
 * Appends fixed-size items into chunk files of about `chunkBytes`. Memory: one chunk buffer.
 * A chunk file is written and fsynced when full (or on flush); only then is it listed in `done`.
 * After a failed write every later append and drain throws the same DatasetWriteError; `discard`
 * removes every file this writer created (complete or partial), so a failed import leaves the
 * disk as it was.
 */
export class ChunkWriter {
  private buf: Uint8Array
  private n = 0
  readonly perChunk: number
  readonly done: { file: string; count: number }[] = []
  private nextNo: number
  private queue: Promise<void> = Promise.resolve()
  private created: string[] = []
  private error: DatasetWriteError | null = null

  constructor(
    private projectDir: string,
    private itemBytes: number,
    firstChunkNo: number,
    chunkBytes = 16 << 20,
  ) {
    this.perChunk = Math.max(1, Math.floor(chunkBytes / itemBytes))
    this.buf = new Uint8Array(this.perChunk * itemBytes)
    this.nextNo = firstChunkNo
  }

  /** The write error that stopped this writer, if any. */
  get failed(): DatasetWriteError | null {
    return this.error
  }

  /** Where the next appended item lands: [chunk number, slot]. Call append right after, synchronously. */
  append(px: Uint8Array): { chunk: number; slot: number } {
    if (this.error) throw this.error
    if (px.length !== this.itemBytes) throw new Error(`item has ${px.length} bytes, expected ${this.itemBytes}`)
    this.buf.set(px, this.n * this.itemBytes)
    const at = { chunk: this.nextNo, slot: this.n }
    this.n++
    if (this.n === this.perChunk) this.rotate()
    return at
  }

  private rotate() {
    const data = this.buf.subarray(0, this.n * this.itemBytes)
    const no = this.nextNo
    const count = this.n
    this.nextNo++
    this.n = 0
    this.buf = new Uint8Array(this.perChunk * this.itemBytes)
    this.queue = this.queue.then(async () => {
      const file = chunkFileName(no)
      const p = chunkPath(this.projectDir, file)
      try {
        await mkdir(join(datasetDir(this.projectDir), 'chunks'), { recursive: true })
        this.created.push(p)
        await writeFileSynced(p, data)
      } catch (err) {
        this.error ??= new DatasetWriteError(p, err)
        throw this.error
      }
      this.done.push({ file, count })
    })
    // The failure is reported by the next append, drain, flush or discard; never as unhandled.
    this.queue.catch(() => undefined)
  }

  /** Resolves when pending writes are on disk (lets producers wait, bounding memory). */
  drain(): Promise<void> {
    return this.queue
  }

  async flush(): Promise<void> {
    if (this.error) throw this.error
    if (this.n > 0) this.rotate()
    await this.queue
  }

  /** Waits for pending writes, then removes every chunk file this writer created. */
  async discard(): Promise<void> {
    await this.queue.catch(() => undefined)
    for (const p of this.created.splice(0)) await rm(p, { force: true }).catch(() => undefined)
    this.done.length = 0
  }

  /** Number of chunk files written or queued (including the one being filled). */
  get pendingBytes(): number {
    return this.n * this.itemBytes
  }
}

export function chunkFileName(no: number): string {
  return `c${String(no).padStart(6, '0')}.bin`
}

/** Reads items by (chunk, slot) with a small cache of open files. */
export class ChunkReader {
  private handles = new Map<string, Promise<import('node:fs/promises').FileHandle>>()
  constructor(
    private projectDir: string,
    private idx: DatasetIndex,
    private maxOpen = 16,
  ) {}

  private handle(chunk: number) {
    const file = chunkFileName(chunk)
    let h = this.handles.get(file)
    if (h) {
      this.handles.delete(file)
      this.handles.set(file, h)
      return h
    }
    h = open(chunkPath(this.projectDir, file), 'r')
    this.handles.set(file, h)
    if (this.handles.size > this.maxOpen) {
      const [oldest, oh] = this.handles.entries().next().value as [string, Promise<import('node:fs/promises').FileHandle>]
      this.handles.delete(oldest)
      void oh.then((f) => f.close()).catch(() => undefined)
    }
    return h
  }

  /** Reads the given items into `out` (item i at offset i*itemBytes), in disk order for locality. */
  async readInto(items: DatasetItem[], out: Uint8Array): Promise<void> {
    const ib = this.idx.itemBytes
    const order = items.map((_, i) => i).sort((a, b) => items[a].chunk - items[b].chunk || items[a].slot - items[b].slot)
    await Promise.all(
      order.map(async (i) => {
        const it = items[i]
        const fh = await this.handle(it.chunk)
        const { bytesRead } = await fh.read(out, i * ib, ib, it.slot * ib)
        if (bytesRead !== ib)
          throw new AppError(
            'PROJECT_DAMAGED',
            `The dataset cache file ${chunkPath(this.projectDir, chunkFileName(it.chunk))} is cut short: item ${it.id} is not in it (a crash, a full disk or a copy that did not finish?).`,
            `Move ${datasetDir(this.projectDir)} aside and import the source folders again; the images in them are untouched.`,
          )
      }),
    )
  }

  async close() {
    const hs = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(hs.map((h) => h.then((f) => f.close()).catch(() => undefined)))
  }
}
