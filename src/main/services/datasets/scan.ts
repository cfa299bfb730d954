import { lstat, readdir, realpath, stat } from 'node:fs/promises'
import { basename, join, relative } from 'node:path'
import type { Split } from '../../../shared/project'
import type { SkippedFile, SourceKind } from '../../../shared/datasets'

export interface ScannedFile {
  path: string
  /** Class name (folder name, NFC). */
  label: string
  /** Split given by the source layout (train/validation/test folders), if any. */
  split?: Split
  size: number
  mtimeMs: number
}

export interface FolderScan {
  kind: 'folder'
  files: ScannedFile[]
  skipped: SkippedFile[]
  /** True when the source has train/ validation/ test/ folders on top. */
  hasSplits: boolean
}

const SPLIT_DIRS: Record<string, Split> = { train: 'train', training: 'train', validation: 'validation', val: 'validation', valid: 'validation', test: 'test', testing: 'test' }

/** Natural order: "2" < "10", "cat.2" < "cat.10"; numbers compare numerically. */
export const naturalCompare = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare

/** Which kind of source a path is: an image folder, IDX files, or a CSV of pixels. */
export async function detectKind(source: string): Promise<SourceKind> {
  const st = await stat(source)
  if (st.isFile()) {
    const n = basename(source).toLowerCase()
    if (/\.csv(\.gz)?$/.test(n)) return 'csv'
    if (/idx\d-ubyte|\.idx\d?(\.gz)?$|-ubyte(\.gz)?$/.test(n)) return 'idx'
    throw new Error(`${source} is a single file that is neither a CSV of pixels (.csv, .csv.gz) nor an IDX file; pick a folder of images (one sub-folder per class) instead.`)
  }
  const entries = await readdir(source, { withFileTypes: true })
  const visible = entries.filter((e) => !e.name.startsWith('.'))
  const hasDirs = visible.some((e) => e.isDirectory())
  if (!hasDirs && visible.some((e) => /idx\d-ubyte/i.test(e.name))) return 'idx'
  if (!hasDirs && visible.some((e) => /\.csv(\.gz)?$/i.test(e.name))) return 'csv'
  return 'folder'
}

/**
 * Walks a folder-per-class source (optionally with train/validation/test on top). Never throws
 * for a bad entry: hidden files, links that loop or dangle, unreadable folders and files outside
 * any class folder are listed in `skipped` with a reason.
 */
export async function scanFolder(root: string, signal?: AbortSignal): Promise<FolderScan> {
  const files: ScannedFile[] = []
  const skipped: SkippedFile[] = []
  const rootReal = await realpath(root)
  const top = await listDir(root, skipped)
  const splitDirs = top.filter((e) => e.isDir && SPLIT_DIRS[e.name.toLowerCase()] !== undefined)
  const hasSplits = splitDirs.length > 0
  const skipHidden = (path: string, isDir: boolean) =>
    skipped.push({ path, reason: `hidden ${isDir ? 'folder' : 'file'} (name starts with a dot): not imported` })
  /** Descends into a folder unless it cannot be read or a symbolic link leads back to an ancestor. */
  const enterDir = async (p: string, label: string, split: Split | undefined, ancestors: Set<string>): Promise<void> => {
    let real: string
    try {
      real = await realpath(p)
    } catch (err) {
      skipped.push({ path: p, reason: `folder cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
      return
    }
    if (ancestors.has(real)) {
      skipped.push({ path: p, reason: `symbolic link loop: it points back to ${relative(rootReal, real) || '.'} (skipped so the scan ends)` })
      return
    }
    await visitDir(p, label, split, new Set([...ancestors, real]))
  }
  const visitDir = async (dir: string, label: string, split: Split | undefined, ancestors: Set<string>): Promise<void> => {
    signal?.throwIfAborted()
    const entries = await listDir(dir, skipped)
    for (const e of entries) {
      const p = join(dir, e.name)
      if (e.name.startsWith('.')) {
        skipHidden(p, e.isDir)
        continue
      }
      if (e.isDir) {
        await enterDir(p, label, split, ancestors)
      } else if (e.isFile) {
        files.push({ path: p, label, split, size: e.size, mtimeMs: e.mtimeMs })
      } else if (e.broken) {
        skipped.push({ path: p, reason: 'broken link: the file it points to does not exist' })
      } else {
        skipped.push({ path: p, reason: 'not a regular file (device, socket or pipe)' })
      }
    }
  }
  const classLevel = async (dir: string, split: Split | undefined, ancestors: Set<string>) => {
    const entries = await listDir(dir, skipped)
    for (const e of entries) {
      const p = join(dir, e.name)
      if (e.name.startsWith('.')) {
        skipHidden(p, e.isDir)
        continue
      }
      if (!e.isDir) {
        if (dir === root && hasSplits === false && /^(readme|license|licence|md5sums|sha\d*sums|source)(\.|$)/i.test(e.name)) {
          skipped.push({ path: p, reason: 'not inside a class folder (documentation file)' })
        } else skipped.push({ path: p, reason: 'not inside a class folder: put images in one sub-folder per class' })
        continue
      }
      if (split === undefined && hasSplits && SPLIT_DIRS[e.name.toLowerCase()] !== undefined) continue
      await enterDir(p, e.name.normalize('NFC'), split, ancestors)
    }
  }
  if (hasSplits) {
    for (const e of top) {
      const p = join(root, e.name)
      const sp = e.isDir ? SPLIT_DIRS[e.name.toLowerCase()] : undefined
      if (sp) await classLevel(p, sp, new Set([rootReal, await realpath(p)]))
      else if (e.isDir && !e.name.startsWith('.'))
        skipped.push({ path: p, reason: 'folder next to train/validation/test is not a split: it was not imported' })
      else if (e.name.startsWith('.')) skipped.push({ path: p, reason: `hidden ${e.isDir ? 'folder' : 'file'} (name starts with a dot): not imported` })
      else skipped.push({ path: p, reason: 'not inside a class folder: put images in one sub-folder per class' })
    }
  } else await classLevel(root, undefined, new Set([rootReal]))
  files.sort((a, b) => naturalCompare(a.path, b.path))
  return { kind: 'folder', files, skipped, hasSplits }
}

interface Entry {
  name: string
  isDir: boolean
  isFile: boolean
  broken: boolean
  size: number
  mtimeMs: number
}

async function listDir(dir: string, skipped: SkippedFile[]): Promise<Entry[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    skipped.push({ path: dir, reason: `folder cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
    return []
  }
  names.sort(naturalCompare)
  const out: Entry[] = []
  for (const name of names) {
    const p = join(dir, name)
    try {
      const st = await stat(p) // follows links
      out.push({ name, isDir: st.isDirectory(), isFile: st.isFile(), broken: false, size: st.size, mtimeMs: st.mtimeMs })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      let isLink = false
      try {
        isLink = (await lstat(p)).isSymbolicLink()
      } catch {
        /* gone */
      }
      if (code === 'ELOOP') skipped.push({ path: p, reason: 'symbolic link loop: the link points to itself in a circle' })
      else if (isLink && code === 'ENOENT') out.push({ name, isDir: false, isFile: false, broken: true, size: 0, mtimeMs: 0 })
      else skipped.push({ path: p, reason: `cannot be read (${code ?? (err as Error).message})` })
    }
  }
  return out
}
