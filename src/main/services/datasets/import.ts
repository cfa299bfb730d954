/**
 * An import in four steps, as Keras's image_dataset_from_directory: the settings the images are
 * stored with (here), decoding a folder of image files (import-folder.ts) or the records of IDX /
 * CSV files (import-containers.ts) into new chunks, then the commit: the index extended
 * (import-index.ts) and written after the chunks.
 */

import { rmdir, stat } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { AppError, parseOrThrow } from '../../../shared/errors'
import { ImportOptions, type ImportOptionsParsed, type ImportSummary, type SkippedFile, type SourceKind } from '../../../shared/datasets'
import type { ProjectSettings } from '../../../shared/project'
import { PROJECT_FILE, readProject, updateProject } from '../projects/store'
import { projectKey, projectPath } from '../projects/identity'
import { ChunkWriter, datasetDir, DatasetWriteError, emptyIndex, loadDatasetIndex, removeOrphanChunks, saveDatasetIndex, type DatasetIndex } from './cache'
import { findCsvFiles, readCsv } from './csv'
import { classCounts, datasetHealth, splitCounts } from './health'
import { findIdxPairs, readIdx } from './idx'
import { decodeContainers } from './import-containers'
import { decodeFolder } from './import-folder'
import { extendIndex } from './import-index'
import { newImportState, type ImportControl, type ImportState } from './import-state'
import { detectKind } from './scan'

export type { ImportControl } from './import-state'

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
  ctl.signal?.throwIfAborted()
  const project = await readProject(projectDir)
  await checkSource(projectDir, source)
  const kind = await detectKind(source).catch((err: Error) => {
    throw new AppError('INVALID_INPUT', err.message)
  })
  const idx0 = await loadDatasetIndex(projectDir)
  await removeOrphanChunks(projectDir, idx0)
  const stored = idx0 && idx0.items.length > 0 ? idx0 : null
  const settings = stored ? storedSettings(stored, opts) : await firstSettings(kind, source, opts, project.settings)
  const notes = stored ? settingsNotes(project.settings, settings) : []
  const s = newImportState(projectDir, stored ? structuredClone(stored) : emptyIndex(settings), settings, opts)
  undo.writer = s.writer
  if (kind === 'folder') await decodeFolder(s, source, ctl)
  else await decodeContainers(s, kind, source, ctl)

  // Nothing usable in the source (an empty folder, files without class sub-folders, no readable
  // image): an error naming the folder and the layouts, not "Imported 0 images". A re-import of
  // an unchanged folder, or images all already in the project, found images: not this case.
  if (!s.aborted && s.newItems.length === 0 && s.unchanged === 0 && !s.skipped.some((x) => x.reason.startsWith('already in the project')))
    throw noImagesFound(source, kind, s.skipped)
  await commitImport(projectDir, s, source, kind, stored ? null : project.settings, undo, ctl)
  if (s.aborted)
    throw new AppError('CANCELLED', `Import cancelled: ${s.newItems.length} images decoded so far were kept, the rest were not imported.`, 'Run the same import again to continue; images already imported are not decoded twice.')
  const summary = importSummary(s, kind, notes, t0)
  ctl.onProgress?.({ phase: 'done', done: s.newItems.length, total: s.newItems.length, rate: 0, etaSeconds: 0 })
  return summary
}

/** Refuses a source that is missing or unreadable, or that lies inside the project. */
async function checkSource(projectDir: string, source: string): Promise<void> {
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
}

/** A first import's settings: the options, else the source's native size and channels and the project's resize and background. */
async function firstSettings(kind: SourceKind, source: string, opts: ImportOptionsParsed, project: ProjectSettings): Promise<ProjectSettings> {
  const native = await nativeShape(kind, source).catch((err: Error) => {
    throw new AppError('INVALID_INPUT', err.message)
  })
  return {
    inputSize: opts.size ?? native.size,
    resizeMode: opts.resize ?? project.resizeMode,
    background: opts.background ?? project.background,
    channels: native.channels,
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

/** A later import keeps the stored images' settings; options that differ are refused. */
function storedSettings(idx: DatasetIndex, opts: ImportOptionsParsed): ProjectSettings {
  const settings = idx.settings
  const conflicts: string[] = []
  if (opts.size !== undefined && opts.size !== settings.inputSize) conflicts.push(`size ${opts.size} (project uses ${settings.inputSize})`)
  if (opts.resize !== undefined && opts.resize !== settings.resizeMode) conflicts.push(`resize ${opts.resize} (project uses ${settings.resizeMode})`)
  if (opts.background !== undefined && opts.background.toLowerCase() !== settings.background.toLowerCase()) conflicts.push(`background ${opts.background} (project uses ${settings.background})`)
  if (conflicts.length)
    throw new AppError('INVALID_INPUT', `This project's images are already stored with other settings: ${conflicts.join(', ')}.`, 'Leave these options out to add images with the project settings, or create a new project for different settings.')
  return settings
}

/** A warning when project.json's settings are not those the stored images were made with. */
function settingsNotes(ps: ProjectSettings, settings: ProjectSettings): string[] {
  if (ps.inputSize === settings.inputSize && ps.resizeMode === settings.resizeMode && ps.channels === settings.channels && ps.background.toLowerCase() === settings.background.toLowerCase()) return []
  return [
    `project.json settings (${ps.inputSize}px ${ps.resizeMode}, ${ps.channels} channel(s)) differ from those the stored images were made with (${settings.inputSize}px ${settings.resizeMode}, ${settings.channels} channel(s)); the stored ones were used. Create a new project to change them.`,
  ]
}

/**
 * Commit: chunk files first (synced), then the index in one atomic write. On a first import
 * (`restore`: project.json's settings before it) project.json gets the import's settings first,
 * put back if the index cannot be written, so a crash between the two never leaves images whose
 * settings project.json does not have.
 */
async function commitImport(projectDir: string, s: ImportState, source: string, kind: SourceKind, restore: ProjectSettings | null, undo: Undo, ctl: ImportControl): Promise<void> {
  ctl.onProgress?.({ phase: 'commit', done: 0, total: 1, rate: 0, etaSeconds: null })
  await s.writer.flush()
  extendIndex(s, source, kind)
  if (restore) {
    await writing(join(projectDir, PROJECT_FILE), updateProject(projectDir, (p) => void (p.settings = s.settings)))
    undo.restoreSettings = () => updateProject(projectDir, (p) => void (p.settings = restore))
  }
  await saveDatasetIndex(projectDir, s.idx)
  undo.committed = true
  ctl.onProgress?.({ phase: 'commit', done: 1, total: 1, rate: 0, etaSeconds: 0 })
}

function importSummary(s: ImportState, kind: SourceKind, notes: string[], t0: number): ImportSummary {
  const { duplicates, ...health } = datasetHealth(s.idx)
  health.warnings.unshift(...notes)
  return {
    kind,
    classes: classCounts(s.idx),
    splits: splitCounts(s.idx),
    total: s.newItems.length + s.unchanged,
    added: s.newItems.length,
    unchanged: s.unchanged,
    skipped: s.skipped,
    duplicates,
    health,
    settings: s.settings,
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
