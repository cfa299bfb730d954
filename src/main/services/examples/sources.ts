import { createHash } from 'node:crypto'
import { access, link, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { AppError } from '../../../shared/errors'
import type { ExampleDef, ExampleProgress, RemoteFile } from '../../../shared/examples'
import { download, formatBytes, sha256File } from './download'
import { extractZip } from './zip'

/**
 * Turns an example's data (official URLs, a URL override, or a local file/folder the user
 * picked) into import sources: role -> file path, and for folder archives the image root.
 * Local data is read in place (never copied); downloads go to the cache once.
 */

export interface ResolvedData {
  kind: 'download' | 'local'
  /** URLs downloaded, or the local path given. */
  locations: string[]
  /** role -> absolute file path (IDX / CSV examples). */
  files: Record<string, string>
  /** Folder holding train/ and validation/ (folder examples). */
  root?: string
}

export interface SourceControl {
  cacheDir: string
  onProgress?: (p: ExampleProgress) => void
  signal?: AbortSignal
}

const isUrl = (s: string) => /^https?:\/\//i.test(s)
const exists = (p: string) => access(p).then(() => true, () => false)

function names(f: RemoteFile): string[] {
  return [f.fileName, ...(f.aliases ?? [])]
}

/** Finds each file of the example in a local folder (or next to a local file), top level or one folder down. */
async function findLocalFiles(def: ExampleDef, source: string): Promise<Record<string, string>> {
  const st = await stat(source)
  const dir = st.isFile() ? dirname(source) : source
  const candidates = new Map<string, string>()
  const add = async (d: string, depth: number) => {
    let entries
    try {
      entries = await readdir(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (e.isFile() || e.isSymbolicLink()) {
        const key = e.name.toLowerCase()
        if (!candidates.has(key)) candidates.set(key, join(d, e.name))
      } else if (e.isDirectory() && depth > 0 && !e.name.startsWith('.')) await add(join(d, e.name), depth - 1)
    }
  }
  await add(dir, 1)
  const out: Record<string, string> = {}
  const missing: string[] = []
  for (const f of def.data.files) {
    const hit = names(f).map((n) => candidates.get(n.toLowerCase())).find(Boolean)
    if (hit) out[f.role] = resolve(hit)
    else missing.push(names(f).join(' or '))
  }
  if (missing.length)
    throw new AppError(
      'NOT_FOUND',
      `${source} does not hold the ${def.title} data: missing ${missing.join('; ')}.`,
      `Pick the folder that holds these files (as published), or leave the source out to download them. ${def.data.provenance}`,
    )
  return out
}

/** A folder with train/ and validation/ class folders: the path itself, `rootName` below it, or a folder up to 3 levels down. */
async function findImageRoot(def: ExampleDef, start: string): Promise<string | null> {
  const isRoot = async (d: string) => (await exists(join(d, 'train'))) && ((await exists(join(d, 'validation'))) || (await exists(join(d, 'val'))))
  if (await isRoot(start)) return start
  if (def.data.rootName && (await isRoot(join(start, def.data.rootName)))) return join(start, def.data.rootName)
  let level = [start]
  for (let depth = 0; depth < 3; depth++) {
    const next: string[] = []
    for (const d of level) {
      let entries
      try {
        entries = await readdir(d, { withFileTypes: true })
      } catch {
        continue
      }
      for (const e of entries) {
        if (!e.isDirectory() || e.name.startsWith('.') || e.name === '__MACOSX') continue
        const p = join(d, e.name)
        if (await isRoot(p)) return p
        next.push(p)
      }
    }
    level = next
  }
  return null
}

/** Extracts an archive once into the cache (keyed by its sha256) and returns the image root. */
async function extractedRoot(def: ExampleDef, archive: string, ctl: SourceControl): Promise<string> {
  ctl.onProgress?.({ phase: 'verify', done: 0, total: 1, message: `Checking ${basename(archive)}` })
  const sha = await sha256File(archive, ctl.signal)
  const dest = join(ctl.cacheDir, 'extracted', sha.slice(0, 24))
  if (!(await exists(dest))) {
    await mkdir(dirname(dest), { recursive: true })
    await extractZip(archive, dest, {
      signal: ctl.signal,
      onProgress: (p) => ctl.onProgress?.({ phase: 'extract', done: p.done, total: p.total, message: `Extracting ${basename(archive)}: ${p.done}/${p.total} files (${formatBytes(p.bytes)})` }),
    })
  }
  const root = await findImageRoot(def, dest)
  if (!root)
    throw new AppError('INVALID_INPUT', `${archive} does not contain a folder with train/ and validation/ class folders.`, `Pick the archive of the data set (${def.data.files[0].fileName}) or its unpacked folder.`)
  return root
}

/** Downloads every file of the example (from `base` when given: a mirror folder URL or, for one-file data, the file URL). */
async function downloadAll(def: ExampleDef, base: string | undefined, ctl: SourceControl): Promise<{ files: Record<string, string>; urls: string[] }> {
  const files: Record<string, string> = {}
  const urls: string[] = []
  const known = def.data.files.every((f) => f.bytes)
  const total = known ? def.data.files.reduce((n, f) => n + (f.bytes ?? 0), 0) : 0
  let before = 0
  for (const f of def.data.files) {
    let url = f.url
    if (base) url = def.data.files.length === 1 && !base.endsWith('/') ? base : base.replace(/\/?$/, '/') + f.fileName
    urls.push(url)
    const r = await download({
      url,
      fileName: f.fileName,
      // A mirror serves the same files: the published checksum still applies.
      sha256: f.sha256,
      bytes: f.bytes,
      cacheDir: ctl.cacheDir,
      signal: ctl.signal,
      onProgress: (p) =>
        ctl.onProgress?.({
          phase: p.phase,
          done: before + p.received,
          total: known ? total : (p.total ?? 0),
          rate: p.rate,
          etaSeconds: p.etaSeconds ?? undefined,
          message: p.phase === 'verify' ? `Checking ${f.fileName}` : `Downloading ${f.fileName}: ${formatBytes(p.received)}${p.total ? ` of ${formatBytes(p.total)}` : ''}${p.resumedFrom ? ` (resumed at ${formatBytes(p.resumedFrom)})` : ''}`,
        }),
    })
    before += f.bytes ?? r.bytes
    files[f.role] = r.path
  }
  return { files, urls }
}

export async function resolveData(def: ExampleDef, source: string | undefined, ctl: SourceControl): Promise<ResolvedData> {
  if (source === undefined || isUrl(source)) {
    const { files, urls } = await downloadAll(def, source, ctl)
    if (def.data.kind === 'folder-archive') return { kind: 'download', locations: urls, files, root: await extractedRoot(def, files.archive, ctl) }
    return { kind: 'download', locations: urls, files }
  }
  const path = resolve(source)
  const st = await stat(path).catch(() => null)
  if (!st) throw new AppError('NOT_FOUND', `The data source ${path} does not exist.`, `Pick the folder (or file) holding the ${def.title} data, or leave the source out to download it.`)
  if (def.data.kind === 'folder-archive') {
    if (st.isFile()) {
      if (!/\.zip$/i.test(path)) throw new AppError('INVALID_INPUT', `${path} is a file but not a .zip archive.`, 'Pick the data set\'s zip or its unpacked folder (with train/ and validation/).')
      return { kind: 'local', locations: [path], files: { archive: path }, root: await extractedRoot(def, path, ctl) }
    }
    const root = await findImageRoot(def, path)
    if (!root) {
      const zip = (await readdir(path)).find((n) => names(def.data.files[0]).some((m) => m.toLowerCase() === n.toLowerCase()))
      if (zip) return { kind: 'local', locations: [join(path, zip)], files: { archive: join(path, zip) }, root: await extractedRoot(def, join(path, zip), ctl) }
      throw new AppError('NOT_FOUND', `${path} holds no folder with train/ and validation/ class folders (e.g. train/cats, train/dogs).`, `Pick the unpacked ${def.data.rootName ?? 'data set'} folder or its zip. ${def.data.provenance}`)
    }
    return { kind: 'local', locations: [root], files: {}, root }
  }
  return { kind: 'local', locations: [path], files: await findLocalFiles(def, path) }
}

/**
 * IDX files name their split by file name (train-… / t10k-…), which would put every training
 * image in `train`. To give the tutorial's validation share, each part is imported from a small
 * folder of links with neutral names and the class names file (the data itself stays in place).
 */
export async function idxLinkFolder(cacheDir: string, example: string, part: string, images: string, labels: string, classNames: string[] | undefined): Promise<string> {
  const key = createHash('sha256').update(`${images}\0${labels}`).digest('hex').slice(0, 16)
  const dir = join(cacheDir, 'links', `${example}-${part}-${key}`)
  await mkdir(dir, { recursive: true })
  const gz = (p: string) => (/\.gz$/i.test(p) ? '.gz' : '')
  const img = join(dir, `images-idx3-ubyte${gz(images)}`)
  const lab = join(dir, `labels-idx1-ubyte${gz(labels)}`)
  for (const [target, at] of [[images, img], [labels, lab]] as const) {
    await rm(at, { force: true })
    try {
      await symlink(target, at)
    } catch {
      try {
        await link(target, at) // Windows without the symlink privilege: a hard link (same volume)
      } catch (err) {
        throw new AppError('INTERNAL', `Cannot link ${target} into ${dir} (${(err as Error).message}).`, 'Put the data set on the same drive as the app data folder, or enable symbolic links (Windows developer mode).')
      }
    }
  }
  if (classNames?.length) await writeFile(join(dir, 'classes.txt'), classNames.join('\n') + '\n')
  return img
}
