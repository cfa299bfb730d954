/**
 * The one rule for every folder the app creates, replaces or deletes: it deletes or replaces only
 * what it made.
 *
 * - A folder the app made carries its marker: an export folder `.classifier-studio-export.json`
 *   (app, format, run, date and the list of files it wrote); a temporary folder the same marker with
 *   `state: "partial"` and the pid of the process writing it.
 * - `overwrite` replaces a folder only when it is empty or an earlier export (marker present AND no
 *   entry other than the files it lists); never a project (a folder holding project.json), never a
 *   folder inside a project (except the exports/ folder the app itself proposes) or containing one,
 *   never a folder with other files. Paths are compared by their real path, so a symlink or a second
 *   path to a project is refused like the project itself.
 * - Leftovers of interrupted work (`.<name>.partial-<pid>-<hex>`, `.<name>.old-<pid>-<hex>`) are removed
 *   at the next start of the same work, only when they match that exact pattern, carry the marker and
 *   their process is gone.
 *
 * Plain Node (no Electron): the CLI, the web bridge and the app all go through these checks.
 */
import { lstat, readdir, readFile, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { AppError } from '../../shared/errors'

export const APP_ID = 'classifier-studio'
/** The marker every export folder (and every temporary export folder) carries. */
export const EXPORT_MANIFEST = '.classifier-studio-export.json'
/** What makes a folder a project. */
export const PROJECT_MARKER = 'project.json'
/** The folder inside a project where the app proposes exports (Export view: <project>/exports/<format>). */
export const PROJECT_EXPORTS_DIR = 'exports'

export interface ExportManifest {
  app: typeof APP_ID
  kind: 'export'
  /** `partial` while the export is being written (temporary folder), `complete` once in place. */
  state: 'partial' | 'complete'
  format?: string
  runId?: string | null
  createdAt: string
  /** The process that wrote it and its host (a partial folder of a live process is never removed). */
  pid: number
  host: string
  /** The files the app wrote (names inside the folder, no sub-folders). */
  files: string[]
  /** Recognised from its files (an export made before the manifest existed); never written. */
  legacy?: true
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code
}

const exists = (p: string) => lstat(p).then(
  () => true,
  () => false,
)

/** Node's path errors (NUL byte, too long, loops, permissions) -> an AppError naming the path. */
export function pathError(err: unknown, path: string, what: string): unknown {
  if (err instanceof AppError) return err
  const code = codeOf(err)
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE' || /null bytes/i.test(String((err as Error)?.message)))
    return new AppError('INVALID_INPUT', `${what} ${JSON.stringify(path)}: it is not a valid path (it contains a NUL byte).`, 'Type the folder path again without control characters.')
  const shown = path.length > 200 ? `${path.slice(0, 120)}…${path.slice(-60)} (${path.length} characters)` : path
  if (code === 'ENAMETOOLONG') return new AppError('INVALID_INPUT', `${what} ${shown}: the path is too long for the file system (ENAMETOOLONG).`, 'Choose a shorter folder path.')
  if (code === 'ELOOP') return new AppError('INVALID_INPUT', `${what} ${shown}: the path goes through a loop of symbolic links (ELOOP).`, 'Choose a folder path without that symbolic link.')
  if (code === 'EACCES' || code === 'EPERM') return new AppError('FORBIDDEN', `${what} ${shown}: a folder on the way cannot be read (${code}: permission denied).`, 'Choose a folder you can read and write, or change its permissions.')
  return err
}

export interface RealPath {
  /** The absolute path as given. */
  path: string
  /** Its real path (symlinks resolved); for a path that does not exist yet, its nearest existing ancestor's real path + the rest. */
  real: string
  exists: boolean
}

/**
 * The real path of `p`, existing or not. A file on the way (`afile.txt/sub`) and a dangling symlink
 * are clear INVALID_INPUT errors naming the path; `what` starts the message ("Cannot export to").
 */
export async function realPathOf(p: string, what: string): Promise<RealPath> {
  const path = resolve(p)
  const rest: string[] = []
  let at = path
  for (;;) {
    try {
      const real = await realpath(at)
      if (rest.length) {
        const st = await stat(real)
        if (!st.isDirectory()) throw new AppError('INVALID_INPUT', `${what} ${path}: ${at} is a file, not a folder.`, 'Choose a folder path whose parent folders are folders, not files.')
      }
      return { path, real: rest.length ? join(real, ...rest.reverse()) : real, exists: rest.length === 0 }
    } catch (err) {
      const code = codeOf(err)
      if (code === 'ENOTDIR') {
        // Something on the way is a file: name it.
        let f = dirname(at)
        while (f !== dirname(f) && !(await stat(f).then((s) => !s.isDirectory(), () => false))) f = dirname(f)
        throw new AppError('INVALID_INPUT', `${what} ${path}: ${f === dirname(f) ? 'a part of the path' : f} is a file, not a folder (ENOTDIR).`, 'Choose a folder path whose parent folders are folders, not files.')
      }
      if (code !== 'ENOENT') throw pathError(err, path, what)
      if (await exists(at))
        throw new AppError('INVALID_INPUT', `${what} ${path}: ${at} is a symbolic link to a place that does not exist.`, 'Remove the broken link or choose another folder.')
      const up = dirname(at)
      if (up === at) throw pathError(err, path, what)
      rest.push(basename(at))
      at = up
    }
  }
}

/** The nearest folder at or above `real` that holds project.json, or null. */
export async function enclosingProject(real: string): Promise<string | null> {
  let at = real
  for (;;) {
    if (await exists(join(at, PROJECT_MARKER))) return at
    const up = dirname(at)
    if (up === at) return null
    at = up
  }
}

/** A project folder strictly below `dir` (bounded: depth and entries read), or null when none was seen. */
export async function projectBelow(dir: string, maxDepth = 3, maxEntries = 2000): Promise<string | null> {
  let level = [dir]
  let seen = 0
  for (let depth = 0; depth < maxDepth && level.length; depth++) {
    const next: string[] = []
    for (const d of level) {
      let names: string[]
      try {
        names = await readdir(d)
      } catch {
        continue
      }
      for (const n of names) {
        if (++seen > maxEntries) return null
        const p = join(d, n)
        const st = await lstat(p).catch(() => null)
        if (!st?.isDirectory()) continue
        if (await exists(join(p, PROJECT_MARKER))) return p
        next.push(p)
      }
    }
    level = next
  }
  return null
}

export async function readExportManifest(dir: string): Promise<ExportManifest | null> {
  try {
    const m = JSON.parse(await readFile(join(dir, EXPORT_MANIFEST), 'utf8')) as Partial<ExportManifest>
    if (m?.app !== APP_ID || m.kind !== 'export' || !Array.isArray(m.files) || !m.files.every((f) => typeof f === 'string' && f !== '' && !f.includes('/') && !f.includes('\\') && f !== '.' && f !== '..')) return null
    return m as ExportManifest
  } catch {
    return null
  }
}

/** The files an export of this app writes (a folder of only these, from a version without the manifest, is a legacy export). */
const EXPORT_FILE = /^(README\.md|example-node\.mjs|example\.py|labels\.json|parity\.json|preprocessing\.json|model\.(onnx|h5|json)|group\d+-shard\d+of\d+\.bin)$/

/** Whether every entry is a regular file named like an export's file. */
async function onlyExportFiles(dir: string, names: string[]): Promise<boolean> {
  for (const n of names) {
    if (!EXPORT_FILE.test(n)) return false
    if (!(await lstat(join(dir, n)).catch(() => null))?.isFile()) return false
  }
  return true
}

/**
 * An export written by a version of the app before the manifest: exactly the export's files, with its
 * parity.json (format, createdAt). Treated as an export the app made, so overwrite still replaces it.
 */
async function legacyExport(dir: string, names: string[]): Promise<ExportManifest | null> {
  const need = ['README.md', 'labels.json', 'parity.json', 'preprocessing.json']
  if (!need.every((n) => names.includes(n)) || !names.some((n) => /^model\./.test(n)) || !(await onlyExportFiles(dir, names))) return null
  try {
    const p = JSON.parse(await readFile(join(dir, 'parity.json'), 'utf8')) as { format?: unknown; createdAt?: unknown }
    if (typeof p.format !== 'string' || typeof p.createdAt !== 'string') return null
    return { app: APP_ID, kind: 'export', state: 'complete', format: p.format, createdAt: p.createdAt, pid: 0, host: '', files: names, legacy: true }
  } catch {
    return null
  }
}

export type FolderKind =
  | { kind: 'absent' }
  | { kind: 'file' }
  | { kind: 'empty' }
  | { kind: 'project' }
  | { kind: 'export'; manifest: ExportManifest }
  /** Other files: `extra` names a few of the entries the app did not make; `project` a project found inside. */
  | { kind: 'foreign'; extra: string[]; count: number; project: string | null }

/** What a folder (by real path) is, for the rule. A symlink is classified as what it points to. */
export async function classifyFolder(real: string): Promise<FolderKind> {
  let st
  try {
    st = await stat(real)
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return { kind: 'absent' }
    throw err
  }
  if (!st.isDirectory()) return { kind: 'file' }
  if (await exists(join(real, PROJECT_MARKER))) return { kind: 'project' }
  const names = (await readdir(real)).sort()
  if (!names.length) return { kind: 'empty' }
  const manifest = (await readExportManifest(real)) ?? (await legacyExport(real, names))
  const listed = new Set(manifest?.state === 'complete' ? [...manifest.files, EXPORT_MANIFEST] : [])
  const extra: string[] = []
  for (const n of names) {
    const s = listed.has(n) ? await lstat(join(real, n)).catch(() => null) : null
    if (!s?.isFile()) extra.push(n)
  }
  if (manifest?.state === 'complete' && !extra.length) return { kind: 'export', manifest }
  return { kind: 'foreign', extra: extra.slice(0, 3), count: extra.length, project: await projectBelow(real) }
}

/**
 * Where an export may go (`out`, as given) and what is there now. Refuses, with a message saying what
 * and how to proceed: a project, a folder inside a project other than <project>/exports/<name>, a file,
 * a folder with files the app did not make (or holding a project), and an earlier export or non-empty
 * folder without `overwrite`. Symlinks are resolved first, so a second path to any of those is refused too.
 */
export async function checkExportDestination(out: string, overwrite: boolean): Promise<{ real: string; kind: 'absent' | 'empty' | 'export' }> {
  try {
    return await checkDestination(out, overwrite)
  } catch (err) {
    throw pathError(err, resolve(out), 'Cannot export to')
  }
}

async function checkDestination(out: string, overwrite: boolean): Promise<{ real: string; kind: 'absent' | 'empty' | 'export' }> {
  const what = 'Cannot export to'
  const r = await realPathOf(out, what)
  const via = r.real !== r.path ? ` (${r.path} is ${r.real})` : ''
  const fix = 'Choose a new or empty folder, or an earlier export of Classifier Studio'
  const project = await enclosingProject(r.real)
  if (project === r.real)
    throw new AppError('FORBIDDEN', `${what} ${r.path}: it is a Classifier Studio project${via}; an export never replaces a project${overwrite ? ', even with overwrite' : ''}.`, `${fix}, e.g. ${join(r.path, PROJECT_EXPORTS_DIR, 'onnx')}.`)
  if (project) {
    const parts = relative(project, r.real).split(sep)
    const designated = parts.length === 2 && (parts[0] === PROJECT_EXPORTS_DIR || (await sameFolder(join(project, parts[0]), join(project, PROJECT_EXPORTS_DIR))))
    if (!designated)
      throw new AppError('FORBIDDEN', `${what} ${r.path}: it is inside the project ${project}${via}, and exports never write into a project's own folders.`, `Export into ${join(project, PROJECT_EXPORTS_DIR)}/<name> (the Export view's default) or a folder outside the project.`)
  }
  const k = await classifyFolder(r.real)
  switch (k.kind) {
    case 'absent':
    case 'empty':
      return { real: r.real, kind: k.kind }
    case 'file':
      throw new AppError('INVALID_INPUT', `${what} ${r.path}: it is a file, not a folder${via}.`, 'Choose a folder path for the export.')
    case 'project':
      throw new AppError('FORBIDDEN', `${what} ${r.path}: it is a Classifier Studio project${via}; an export never replaces a project.`, `${fix}.`)
    case 'export':
      if (!overwrite)
        throw new AppError('INVALID_INPUT', `${what} ${r.path}: the folder exists and is not empty (an earlier ${k.manifest.format ?? ''} export of ${k.manifest.createdAt.slice(0, 10)}).`.replace('  ', ' '), 'Choose a new or empty folder, or tick “Replace an earlier export” (CLI: --overwrite) to replace this earlier export.')
      return { real: r.real, kind: 'export' }
    case 'foreign': {
      const holds = k.project ? `the project ${k.project}` : `${k.count} item(s) Classifier Studio did not make (${k.extra.join(', ')}${k.count > k.extra.length ? ', …' : ''})`
      throw new AppError(
        overwrite ? 'FORBIDDEN' : 'INVALID_INPUT',
        `${what} ${r.path}: the folder exists and is not empty: it holds ${holds}${via}. ${overwrite ? 'Overwrite replaces only an empty folder or an earlier export of the app, never other files.' : ''}`.trim(),
        `${fix}; move your files elsewhere first if you want this folder.`,
      )
    }
  }
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)])
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino
}

/**
 * Deletes an export folder the app made: only the files its manifest lists and the manifest, then the
 * folder if that left it empty. Returns false (and deletes nothing) when it is not such a folder.
 */
export async function removeExportFolder(dir: string): Promise<boolean> {
  const k = await classifyFolder(dir)
  if (k.kind !== 'export') return false
  for (const f of k.manifest.files) await unlink(join(dir, f)).catch((e) => (codeOf(e) === 'ENOENT' ? undefined : Promise.reject(e)))
  if (!k.manifest.legacy) await unlink(join(dir, EXPORT_MANIFEST))
  try {
    await rmdir(dir)
    return true
  } catch {
    return false
  }
}

/** Whether a process is alive (on this host). Our own pid counts as alive only for work still running here. */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return codeOf(err) === 'EPERM'
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** Name of a temporary sibling of `real` (same folder, so the final rename is atomic): `.<name>.<kind>-<pid>-<hex>`. */
export function siblingName(real: string, kind: 'partial' | 'old', hex: string): string {
  return join(dirname(real), `.${basename(real)}.${kind}-${process.pid}-${hex}`)
}

/** Temporary folders of exports running in this process (never cleaned as leftovers). */
const liveHere = new Set<string>()
export function markLive(path: string): () => void {
  liveHere.add(path)
  return () => liveHere.delete(path)
}

function ownerGone(pid: number, path: string): boolean {
  if (pid === process.pid) return !liveHere.has(path)
  return !processAlive(pid)
}

export interface LeftoverReport {
  removed: string[]
  restored: string | null
  kept: string[]
}

/**
 * Cleans the leftovers of interrupted exports to `real` (its siblings `.<name>.partial-<pid>-<hex>` and
 * `.<name>.old-<pid>-<hex>`): only folders matching that exact name whose process is gone (not on another
 * host) and that carry the app's marker. A partial folder is removed; an earlier export moved aside
 * (`.old-`) is moved back when `real` is absent (the interrupted export had not replaced it yet), else
 * removed file by file. Anything else is left alone.
 */
export async function cleanExportLeftovers(real: string): Promise<LeftoverReport> {
  const report: LeftoverReport = { removed: [], restored: null, kept: [] }
  const parent = dirname(real)
  const re = new RegExp(`^\\.${escapeRe(basename(real))}\\.(partial|old)-(\\d+)-[0-9a-f]{8}$`)
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return report
  }
  const legacyRe = new RegExp(`^\\.${escapeRe(basename(real))}\\.(partial|old)-[0-9a-f]{8}$`)
  const olds: { path: string; mtime: number }[] = []
  // Best effort: a leftover that cannot be removed (permissions, a busy file) stays and is reported as kept.
  for (const n of names) {
    const p = join(parent, n)
    try {
      if (legacyRe.test(n)) {
        await cleanLegacyLeftover(p, real, report)
        continue
      }
      const m = re.exec(n)
      if (!m) continue
      const st = await lstat(p).catch(() => null)
      if (!st?.isDirectory() || !ownerGone(Number(m[2]), p)) continue
      const manifest = await readExportManifest(p)
      if (m[1] === 'partial') {
        // The writer's marker is its first file: same pid as the name, this host. Killed before the
        // marker was (fully) written, the folder holds nothing else: removing it deletes nothing of anyone's.
        const bare = !manifest && (await readdir(p).catch(() => ['?'])).every((e) => e === EXPORT_MANIFEST)
        if (!bare && (!manifest || manifest.pid !== Number(m[2]) || manifest.host !== hostname())) {
          report.kept.push(p)
          continue
        }
        await rm(p, { recursive: true, force: true })
        report.removed.push(p)
      } else olds.push({ path: p, mtime: st.mtimeMs })
    } catch {
      report.kept.push(p)
    }
  }
  olds.sort((a, b) => b.mtime - a.mtime)
  for (const o of olds) {
    try {
      if (!report.restored && (await classifyFolder(o.path)).kind === 'export' && !(await exists(real))) {
        await rename(o.path, real)
        report.restored = o.path
        continue
      }
      if (await removeExportFolder(o.path)) report.removed.push(o.path)
      else report.kept.push(o.path)
    } catch {
      report.kept.push(o.path)
    }
  }
  return report
}

/** How old an unmarked leftover of an earlier version must be before it is removed (no such export still runs). */
const LEGACY_LEFTOVER_AGE_MS = 60 * 60 * 1000

/**
 * A `.<name>.partial-<hex>` / `.old-<hex>` folder of a version before the marker: removed file by file when
 * it holds only regular files named like an export's and was untouched for an hour; anything else stays.
 */
async function cleanLegacyLeftover(p: string, real: string, report: LeftoverReport): Promise<void> {
  const st = await lstat(p).catch(() => null)
  if (!st?.isDirectory()) return
  const names = await readdir(p).catch(() => null)
  if (!names || Date.now() - st.mtimeMs < LEGACY_LEFTOVER_AGE_MS || !(await onlyExportFiles(p, names))) {
    report.kept.push(p)
    return
  }
  if (/\.old-[0-9a-f]{8}$/.test(p) && !report.restored && (await legacyExport(p, names)) && !(await exists(real))) {
    await rename(p, real)
    report.restored = p
    return
  }
  for (const n of names) await unlink(join(p, n)).catch(() => undefined)
  await rmdir(p).then(
    () => report.removed.push(p),
    () => report.kept.push(p),
  )
}

export interface NewFolderClaim {
  real: string
  /** Whether the folder did not exist (the app creates it). */
  created: boolean
  /** Entries that were there before (hidden ones only, the folder being otherwise empty). */
  before: Set<string>
}

/**
 * Checks that a new project may be made in `dir` (new, or empty but for hidden entries), not inside
 * another project, and remembers what was there, so a failure can delete exactly what the app made.
 */
export async function claimNewProjectFolder(dir: string, what: string): Promise<NewFolderClaim> {
  const r = await realPathOf(dir, what)
  const k = await classifyFolder(r.real)
  if (k.kind === 'project') throw new AppError('PROJECT_EXISTS', `A project already exists at ${r.path}.`, 'Open it instead, or choose another folder.')
  if (k.kind === 'file') throw new AppError('INVALID_INPUT', `${what} ${r.path}: it is a file, not a folder.`, 'Choose a new folder name.')
  const inside = await enclosingProject(dirname(r.real))
  if (inside) throw new AppError('FORBIDDEN', `${what} ${r.path}: it is inside the project ${inside}; a project never goes inside another one.`, 'Choose a folder outside any project.')
  if (k.kind === 'absent') return { real: r.real, created: true, before: new Set() }
  const names = await readdir(r.real)
  const visible = names.filter((e) => !e.startsWith('.'))
  if (visible.length)
    throw new AppError('PROJECT_EXISTS', `${r.path} is not empty (${visible.length} item(s)); an example project needs an empty or new folder.`, 'Choose a new folder name.')
  return { real: r.real, created: false, before: new Set(names) }
}

/** Undoes a claimed folder after a failure: deletes only the entries that were not there before, and the folder if the app created it. */
export async function releaseNewProjectFolder(claim: NewFolderClaim): Promise<void> {
  for (const e of await readdir(claim.real).catch(() => [] as string[])) if (!claim.before.has(e)) await rm(join(claim.real, e), { recursive: true, force: true }).catch(() => undefined)
  if (claim.created) await rmdir(claim.real).catch(() => undefined)
}
