import { createHash } from 'node:crypto'
import { readFile, rmdir, stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, resolve, sep } from 'node:path'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { ImportOptions, type ImportOptionsParsed, type ImportProgress, type ImportSummary, type SkippedFile, type SourceKind } from '../../../shared/datasets'
import type { ProjectSettings, Split } from '../../../shared/project'
import { PROJECT_FILE, readProject, updateProject } from '../projects/store'
import { projectKey, projectPath } from '../projects/identity'
import { ChunkWriter, datasetDir, DatasetWriteError, emptyIndex, loadDatasetIndex, removeOrphanChunks, saveDatasetIndex, type DatasetIndex } from './cache'
import { findCsvFiles, readCsv } from './csv'
import { decodeImage, fitRaw, SkipError } from './decode'
import { classCounts, datasetHealth, splitCounts } from './health'
import { findIdxPairs, readIdx } from './idx'
import { detectKind, naturalCompare, scanFolder } from './scan'
import { stratifiedSplit } from './split'

export interface ImportControl {
  onProgress?: (p: ImportProgress) => void
  signal?: AbortSignal
  /** Image files decoded at once; by default twice the cores, so both sharp's threads and file reads stay busy. */
  concurrency?: number
}

interface NewItem {
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

const locks = new Map<string, Promise<unknown>>()

/** One import at a time per project (also used by setExcluded), keyed by the project's identity (its real path). */
export async function withDatasetLock<T>(projectDir: string, fn: () => Promise<T>): Promise<T> {
  const key = projectKey(projectDir)
  const prev = locks.get(key) ?? Promise.resolve()
  const next = prev.catch(() => undefined).then(fn)
  locks.set(key, next)
  try {
    return await next
  } finally {
    if (locks.get(key) === next) locks.delete(key)
  }
}

export const contentHash = (b: Uint8Array) => createHash('sha1').update(b).digest('hex').slice(0, 24)

class Progress {
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

async function nativeShape(kind: SourceKind, source: string): Promise<{ size: number; channels: 1 | 3 }> {
  if (kind === 'idx') {
    const { pairs } = await findIdxPairs(source)
    for await (const r of readIdx(pairs[0])) return { size: Math.max(r.width, r.height), channels: 1 }
  } else if (kind === 'csv') {
    const files = await findCsvFiles(source)
    for await (const r of readCsv(files[0].path, () => undefined)) return { size: r.width, channels: r.channels }
  }
  return { size: 224, channels: 3 }
}

/**
 * Imports a folder of images (one sub-folder per class, optionally under train/ validation/ test/),
 * IDX files or a CSV of pixels into the project's dataset cache. Never stops for a bad file; never
 * writes next to the originals; adds to what is there without duplicating; cancellable (what was
 * decoded so far is committed, so the project stays consistent and a re-run resumes).
 */
export async function importDataset(projectDir: string, source: string, options: ImportOptions = {}, ctl: ImportControl = {}): Promise<ImportSummary> {
  const opts = parseOrThrow(ImportOptions, options, 'import options', 'Fix the named options and try again.')
  return withDatasetLock(projectDir, () => importOrUndo(resolve(projectDir), resolve(source), opts, ctl))
}

/** What an import wrote before its commit, so that a failed one is undone. */
interface Undo {
  writer: ChunkWriter | null
  /** Puts project.json's settings back (first import only). */
  restoreSettings: (() => Promise<unknown>) | null
  /** The index names the new chunks: from here on the import stands. */
  committed: boolean
}

const exists = (p: string) => stat(p).then(() => true, () => false)

/**
 * Runs an import; if it fails before its commit (a full disk, a read-only folder, a crash of a
 * write), removes every file it wrote, so the index, project.json and the disk are as before.
 * What a killed import left behind is removed by the next import (removeOrphanChunks).
 */
async function importOrUndo(projectDir: string, source: string, opts: ImportOptionsParsed, ctl: ImportControl): Promise<ImportSummary> {
  const dataDir = datasetDir(projectDir)
  const chunksDir = join(dataDir, 'chunks')
  const had = { data: await exists(dataDir), chunks: await exists(chunksDir) }
  const undo: Undo = { writer: null, restoreSettings: null, committed: false }
  try {
    return await runImport(projectDir, source, opts, ctl, undo)
  } catch (err) {
    if (!undo.committed) {
      await undo.writer?.discard()
      await undo.restoreSettings?.().catch(() => undefined)
      // Folders this import created, when they are empty again (rmdir never removes content).
      if (!had.chunks) await rmdir(chunksDir).catch(() => undefined)
      if (!had.data) await rmdir(dataDir).catch(() => undefined)
    }
    throw undo.committed ? err : writeFailure(err)
  }
}

/** A failed write as a message for people: which file, what happened, that nothing was added. */
function writeFailure(err: unknown): unknown {
  if (!(err instanceof DatasetWriteError)) return err
  const outcome = 'nothing was added; the files this import had written were removed, so the dataset and the disk are as they were before it'
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT')
    return new AppError('DISK_FULL', `The disk is full while writing ${err.file}: ${outcome}.`, 'Free some space on that disk (or move the project to a larger one) and import again.')
  if (err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS')
    return new AppError('FORBIDDEN', `Cannot write ${err.file} (${err.code}: the folder is read-only or you lack permission): ${outcome}.`, 'Make the project folder writable, then import again.')
  return new AppError('INTERNAL', `Writing ${err.file} failed (${(err.cause as Error)?.message ?? err.message}): ${outcome}.`, 'Check the disk, then import again.')
}

/** Runs a write of `file`, naming the file in the error when it fails for a file-system reason. */
async function writing<T>(file: string, p: Promise<T>): Promise<T> {
  try {
    return await p
  } catch (err) {
    if (typeof (err as NodeJS.ErrnoException)?.code === 'string' && !(err instanceof AppError)) throw new DatasetWriteError(file, err)
    throw err
  }
}

async function runImport(projectDir: string, source: string, opts: ImportOptionsParsed, ctl: ImportControl, undo: Undo): Promise<ImportSummary> {
  const t0 = Date.now()
  const { signal } = ctl
  signal?.throwIfAborted()
  const project = await readProject(projectDir)
  try {
    await stat(source)
  } catch {
    throw new AppError('NOT_FOUND', `Cannot import ${source}: it does not exist or cannot be read.`, 'Pick an existing folder of images (one sub-folder per class), IDX files or a CSV of pixels.')
  }
  // Compared by identity (real paths, case folded where the file system ignores case): a source
  // reached through a symbolic link into the project is inside it too.
  const sourceKey = projectKey(source)
  const projectKeyDir = projectKey(projectDir)
  if (sourceKey === projectKeyDir || sourceKey.startsWith(projectKeyDir.endsWith(sep) ? projectKeyDir : projectKeyDir + sep)) {
    const real = projectPath(source)
    const what = real !== resolve(source) ? `its real path ${real} (through a symbolic link) is` : 'it is'
    throw new AppError('INVALID_INPUT', `Cannot import ${source}: ${what} inside the project folder ${projectPath(projectDir)}.`, 'Import from a folder outside the project (the project keeps its own copy of every imported image).')
  }
  const kind = await detectKind(source).catch((err: Error) => {
    throw new AppError('INVALID_INPUT', err.message)
  })
  const idx0 = await loadDatasetIndex(projectDir)
  await removeOrphanChunks(projectDir, idx0)
  const first = !idx0 || idx0.items.length === 0

  let settings: ProjectSettings
  if (first) {
    const native = await nativeShape(kind, source).catch((err: Error) => {
      throw new AppError('INVALID_INPUT', err.message)
    })
    settings = {
      inputSize: opts.size ?? native.size,
      resizeMode: opts.resize ?? project.settings.resizeMode,
      background: opts.background ?? project.settings.background,
      channels: native.channels,
    }
  } else {
    settings = idx0.settings
    const conflicts: string[] = []
    if (opts.size !== undefined && opts.size !== settings.inputSize) conflicts.push(`size ${opts.size} (project uses ${settings.inputSize})`)
    if (opts.resize !== undefined && opts.resize !== settings.resizeMode) conflicts.push(`resize ${opts.resize} (project uses ${settings.resizeMode})`)
    if (opts.background !== undefined && opts.background.toLowerCase() !== settings.background.toLowerCase()) conflicts.push(`background ${opts.background} (project uses ${settings.background})`)
    if (conflicts.length)
      throw new AppError('INVALID_INPUT', `This project's images are already stored with other settings: ${conflicts.join(', ')}.`, 'Leave these options out to add images with the project settings, or create a new project for different settings.')
  }
  const idx: DatasetIndex = first ? emptyIndex(settings) : structuredClone(idx0!)
  const notes: string[] = []
  const ps = project.settings
  if (!first && (ps.inputSize !== settings.inputSize || ps.resizeMode !== settings.resizeMode || ps.channels !== settings.channels || ps.background.toLowerCase() !== settings.background.toLowerCase()))
    notes.push(`project.json settings (${ps.inputSize}px ${ps.resizeMode}, ${ps.channels} channel(s)) differ from those the stored images were made with (${settings.inputSize}px ${settings.resizeMode}, ${settings.channels} channel(s)); the stored ones were used. Create a new project to change them.`)

  const skipped: SkippedFile[] = []
  const newItems: NewItem[] = []
  const fileUpdates: Record<string, { size: number; mtimeMs: number; orders: number[]; keepIds?: number[] }> = {}
  let unchanged = 0
  const unchangedIds: number[] = []
  const nextChunk = idx.chunks.reduce((m, c) => Math.max(m, parseInt(c.file.slice(1), 10) + 1), 0)
  const writer = new ChunkWriter(projectDir, idx.itemBytes, nextChunk)
  undo.writer = writer
  const toRedo = new Set<string>() // source files whose old items become stale
  const activeHashes = () => {
    const m = new Map<string, string>()
    for (const it of idx.items) if (!it.excluded && !it.stale && !toRedo.has(it.src.replace(/#\d+$/, ''))) m.set(it.hash, it.src)
    return m
  }
  let aborted = false
  const decodeOpts = { maxPixels: opts.maxPixels, minSide: opts.minSide }

  const isUnchanged = (path: string, size: number, mtimeMs: number) => {
    const rec = idx.files[path]
    return rec && rec.size === size && rec.mtimeMs === mtimeMs && rec.ids.every((i) => idx.items[i] && !idx.items[i].stale)
  }

  if (kind === 'folder') {
    ctl.onProgress?.({ phase: 'scan', done: 0, total: 0, rate: 0, etaSeconds: null })
    const scan = await scanFolder(source, signal)
    skipped.push(...scan.skipped)
    const work = scan.files.filter((f) => {
      if (isUnchanged(f.path, f.size, f.mtimeMs)) {
        unchanged++
        unchangedIds.push(...idx.files[f.path].ids)
        return false
      }
      if (idx.files[f.path]) toRedo.add(f.path)
      return true
    })
    const before = activeHashes()
    const prog = new Progress(ctl.onProgress, 'decode', work.length)
    let next = 0
    let done = 0
    const workers = ctl.concurrency ?? Math.max(2, availableParallelism()) * 2
    const worker = async () => {
      // A failed chunk write (a full disk) stops every worker: the import is undone.
      while (next < work.length && !writer.failed) {
        if (signal?.aborted) {
          aborted = true
          return
        }
        const order = next++
        const f = work[order]
        let buf: Buffer
        try {
          buf = await readFile(f.path)
        } catch (err) {
          skipped.push({ path: f.path, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
          done++
          continue
        }
        const hash = buf.length ? contentHash(buf) : ''
        const old = idx.files[f.path]
        if (old && old.ids.length === 1 && idx.items[old.ids[0]]?.hash === hash) {
          // Only the timestamp changed: keep the cached pixels.
          fileUpdates[f.path] = { size: f.size, mtimeMs: f.mtimeMs, orders: [], keepIds: old.ids }
          unchanged++
          unchangedIds.push(...old.ids)
          done++
          continue
        }
        const dupOf = hash ? before.get(hash) : undefined
        if (dupOf) {
          skipped.push({ path: f.path, reason: `already in the project: same content as ${dupOf}` })
          done++
          continue
        }
        try {
          const d = await decodeImage(buf, settings, decodeOpts)
          const at = writer.append(d.data)
          newItems.push({ order, src: f.path, labelName: f.label, split: opts.split ?? f.split, chunk: at.chunk, slot: at.slot, hash, w: d.width, h: d.height })
          fileUpdates[f.path] = { size: f.size, mtimeMs: f.mtimeMs, orders: [order] }
          if (at.slot === writer.perChunk - 1) await writer.drain()
        } catch (err) {
          if (err instanceof DatasetWriteError) throw err
          if (err instanceof SkipError) skipped.push({ path: f.path, reason: err.message })
          else skipped.push({ path: f.path, reason: `cannot be imported (${(err as Error).message})` })
        }
        done++
        prog.tick(done)
      }
    }
    // Every worker settles before the first failure is reported, so none writes after the undo.
    const ends = await Promise.allSettled(Array.from({ length: workers }, worker))
    const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected')
    if (failed) throw failed.reason
    prog.tick(done, true)
  } else {
    // IDX / CSV: records streamed from container files; decoding is a copy (or a resize).
    const containers: { path: string; split?: Split; classNames?: string[] | null }[] =
      kind === 'idx' ? [] : (await findCsvFiles(source)).map((f) => ({ path: f.path, split: f.split }))
    let idxPairs: Awaited<ReturnType<typeof findIdxPairs>> | null = null
    if (kind === 'idx') {
      idxPairs = await findIdxPairs(source).catch((err: Error) => {
        throw new AppError('INVALID_INPUT', err.message)
      })
      for (const p of idxPairs.pairs) containers.push({ path: p.images, split: p.split, classNames: idxPairs.classNames })
    }
    // A folder of train/test files gives splits only when it has a train file.
    const fileStats = await Promise.all(containers.map((c) => stat(c.path)))
    const work = containers.filter((c, i) => {
      const st = fileStats[i]
      if (isUnchanged(c.path, st.size, st.mtimeMs)) {
        unchanged += idx.files[c.path].ids.length
        unchangedIds.push(...idx.files[c.path].ids)
        return false
      }
      if (idx.files[c.path]) toRedo.add(c.path)
      return true
    })
    const before = activeHashes()
    const prog = new Progress(ctl.onProgress, 'decode', 0)
    let done = 0
    let order = 0
    for (const c of work) {
      if (aborted) break
      const st = fileStats[containers.indexOf(c)]
      const orders: number[] = []
      const add = async (srcKey: string, labelName: string, px: Uint8Array, w: number, h: number, ch: 1 | 3) => {
        const hash = contentHash(px)
        const dupOf = before.get(hash)
        if (dupOf) {
          skipped.push({ path: srcKey, reason: `already in the project: same content as ${dupOf}` })
          return
        }
        const data = await fitRaw(px, w, h, ch, settings)
        const at = writer.append(data)
        newItems.push({ order, src: srcKey, labelName, split: opts.split ?? c.split, chunk: at.chunk, slot: at.slot, hash, w, h })
        orders.push(order++)
        if (at.slot === writer.perChunk - 1) await writer.drain()
      }
      try {
        if (kind === 'idx') {
          const pair = idxPairs!.pairs.find((p) => p.images === c.path)!
          for await (const r of readIdx(pair)) {
            if (signal?.aborted) {
              aborted = true
              break
            }
            if (r.index === 0) prog.total += r.count
            const name = c.classNames?.[r.label] ?? String(r.label)
            await add(`${c.path}#${r.index}`, name, r.pixels, r.width, r.height, 1)
            prog.tick(++done)
          }
        } else {
          for await (const r of readCsv(c.path, (s) => skipped.push(s))) {
            if (signal?.aborted) {
              aborted = true
              break
            }
            prog.total = Math.max(prog.total, done + 1)
            await add(`${c.path}#${r.line}`, r.label, r.pixels, r.width, r.height, r.channels)
            prog.tick(++done)
          }
        }
      } catch (err) {
        if (err instanceof AppError || err instanceof DatasetWriteError) throw err
        throw new AppError('INVALID_INPUT', `Cannot import ${c.path}: ${(err as Error).message}`, 'Check that the file is a complete IDX / CSV-of-pixels file.')
      }
      if (!aborted) fileUpdates[c.path] = { size: st.size, mtimeMs: st.mtimeMs, orders }
    }
    prog.tick(done, true)
  }

  // Nothing usable in the source (an empty folder, files without class sub-folders, no readable
  // image): an error naming the folder and the layouts, not "Imported 0 images". A re-import of
  // an unchanged folder, or images all already in the project, found images: not this case.
  if (!aborted && newItems.length === 0 && unchanged === 0 && !skipped.some((s) => s.reason.startsWith('already in the project')))
    throw noImagesFound(source, kind, skipped)

  // Commit: chunk files first (synced), then the index in one atomic write.
  ctl.onProgress?.({ phase: 'commit', done: 0, total: 1, rate: 0, etaSeconds: null })
  await writer.flush()
  newItems.sort((a, b) => a.order - b.order)
  const labelOf = new Map(idx.classes.map((c, i) => [c, i]))
  for (const it of newItems) if (!labelOf.has(it.labelName)) labelOf.set(it.labelName, labelOf.size)
  const classList = [...labelOf.keys()]
  const base = idx.items.length
  const needSplit = newItems.map((it, i) => ({ it, i })).filter((x) => x.it.split === undefined)
  const assigned = stratifiedSplit(needSplit.map((x) => ({ label: labelOf.get(x.it.labelName)!, hash: x.it.hash, src: x.it.src })), opts.val, opts.test, opts.seed)
  const splits: Split[] = newItems.map((it) => it.split ?? 'train')
  needSplit.forEach((x, k) => (splits[x.i] = assigned[k]))
  // Old copies of changed files are kept on disk (ids stay valid) but marked stale.
  for (const p of toRedo) {
    const upd = fileUpdates[p]
    if (upd && !upd.keepIds) for (const id of idx.files[p].ids) idx.items[id].stale = true
  }
  const orderToId = new Map<number, number>()
  newItems.forEach((it, k) => {
    orderToId.set(it.order, base + k)
    idx.items.push({ id: base + k, src: it.src, label: labelOf.get(it.labelName)!, split: splits[k], chunk: it.chunk, slot: it.slot, hash: it.hash, w: it.w, h: it.h })
  })
  for (const [p, u] of Object.entries(fileUpdates)) idx.files[p] = { size: u.size, mtimeMs: u.mtimeMs, ids: u.keepIds ?? u.orders.map((o) => orderToId.get(o)!).filter((x) => x !== undefined) }
  idx.chunks.push(...writer.done.sort((a, b) => (a.file < b.file ? -1 : 1)))
  // Classes in natural order ("2" before "10"); labels remapped.
  const sorted = [...classList].sort(naturalCompare)
  const remap = classList.map((c) => sorted.indexOf(c))
  idx.classes = sorted
  for (const it of idx.items) it.label = remap[it.label]
  skipped.sort((a, b) => naturalCompare(a.path, b.path))
  idx.lastSkipped = skipped
  idx.imports.push({ source, kind, at: new Date().toISOString(), added: newItems.length, skipped: skipped.length, seed: opts.seed })
  idx.settings = settings
  // project.json first (put back if the index cannot be written), so a crash between the two
  // never leaves images whose settings project.json does not have; the index write commits.
  if (first) {
    const before = project.settings
    await writing(join(projectDir, PROJECT_FILE), updateProject(projectDir, (p) => void (p.settings = settings)))
    undo.restoreSettings = () => updateProject(projectDir, (p) => void (p.settings = before))
  }
  await saveDatasetIndex(projectDir, idx)
  undo.committed = true
  ctl.onProgress?.({ phase: 'commit', done: 1, total: 1, rate: 0, etaSeconds: 0 })
  if (aborted)
    throw new AppError('CANCELLED', `Import cancelled: ${newItems.length} images decoded so far were kept, the rest were not imported.`, 'Run the same import again to continue; images already imported are not decoded twice.')

  const health = datasetHealth(idx)
  const { duplicates, ...h } = health
  h.warnings.unshift(...notes)
  ctl.onProgress?.({ phase: 'done', done: newItems.length, total: newItems.length, rate: 0, etaSeconds: 0 })
  return {
    kind,
    classes: classCounts(idx),
    splits: splitCounts(idx),
    total: newItems.length + unchanged,
    added: newItems.length,
    unchanged,
    skipped,
    duplicates,
    health: h,
    settings,
    seconds: (Date.now() - t0) / 1000,
  }
}

/** The layouts an import understands, for messages about a source that has none of them. */
export const IMPORT_LAYOUTS =
  'a folder with one sub-folder per class (e.g. cats/*.jpg and dogs/*.jpg); the same under train/, validation/ (or val/) and test/; Fashion-MNIST IDX files (train-images-idx3-ubyte.gz with train-labels-idx1-ubyte.gz, optionally t10k-*); or a CSV of pixels with the label in the first column (.csv or .csv.gz)'

/** The error for a source that gave no images at all, saying what was found there instead. */
function noImagesFound(source: string, kind: SourceKind, skipped: SkippedFile[]): AppError {
  const hint = `Classifier Studio imports ${IMPORT_LAYOUTS}. Arrange the images that way (or pick the folder above them) and import again.`
  if (kind !== 'folder') return new AppError('INVALID_INPUT', `No images were imported from ${source}: its ${kind === 'idx' ? 'IDX' : 'CSV'} file(s) hold no readable records${skipped.length ? ` (${skipped.length} skipped, e.g. ${skipped[0].path}: ${skipped[0].reason})` : ''}.`, hint)
  const visible = skipped.filter((s) => !s.reason.startsWith('hidden '))
  if (visible.length === 0)
    return new AppError('INVALID_INPUT', `No images found in ${source}: neither it nor its sub-folders hold any files${skipped.length ? ` (only ${skipped.length} hidden one(s), which are never imported)` : ''}.`, hint)
  const outside = visible.filter((s) => s.reason.startsWith('not inside a class folder'))
  const examples = visible.slice(0, 3).map((s) => `${s.path}: ${s.reason}`).join('; ')
  if (outside.length === visible.length)
    return new AppError('INVALID_INPUT', `No images were imported from ${source}: its ${outside.length} file(s) lie directly in the folder, not in class sub-folders (e.g. ${outside[0].path}).`, `Move the images into one sub-folder per class (the folder name is the label), e.g. ${source}/cats/ and ${source}/dogs/, then import again. ${hint}`)
  return new AppError('INVALID_INPUT', `No images were imported from ${source}: none of its ${visible.length} file(s) could be used (${examples}${visible.length > 3 ? '; …' : ''}).`, hint)
}
