import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { AppError, translateError } from '../../shared/errors'
import { appDataDir } from '../platform/app-data'
import { APP_ID, processAlive } from '../services/ownership'

/**
 * Folders dropped or chosen in the browser studio, uploaded to the server before they are
 * imported (the studio may run on a headless training box the browser cannot see).
 *
 * Each upload gets its own staging folder that the app makes and owns, under the app data folder
 * (`uploads/<16 hex>/`, never inside a project: an import refuses sources inside the project):
 * it carries `.classifier-studio-upload.json` (app, kind, pid, host, project, date), and the
 * uploaded tree lies in `<name>/` below it with its relative paths (class sub-folders, train/
 * validation/test). Following services/ownership.ts, the app deletes only such folders: its own
 * once the import is over, and at the next upload the leftovers of processes that are gone
 * (exact name pattern + marker + dead pid).
 *
 * Every path is checked before anything is written: relative, '/'-separated, no '..' or '.',
 * no empty, hidden ('.x'), NUL or control-character segment, no backslash or drive letter; files
 * are created exclusively (never over an existing one) and their size is bounded, per file and
 * per upload.
 */
export const UPLOAD_MARKER = '.classifier-studio-upload.json'
const ID = /^[0-9a-f]{16}$/

export const UPLOAD_LIMITS = {
  /** One file (a large photo or an IDX/CSV file of a dataset). */
  fileBytes: 256 * 1024 * 1024,
  /** One upload, all its files. */
  totalBytes: 8 * 1024 * 1024 * 1024,
  files: 200_000,
  pathChars: 1024,
  depth: 12,
  segmentChars: 255,
  /** Uploads open at once in one studio (each has a staging folder until it is discarded). */
  open: 8,
  /** An upload nothing was sent to for this long was abandoned (its page closed): removed at the next begin. */
  idleMs: 60 * 60 * 1000,
}

interface Marker {
  app: typeof APP_ID
  kind: 'upload'
  pid: number
  host: string
  project: string
  name: string
  createdAt: string
}

interface Session {
  id: string
  project: string
  /** <root>/<id> */
  dir: string
  /** <root>/<id>/<name>: what is imported. */
  source: string
  files: number
  bytes: number
  paths: Set<string>
  /** When the upload last received something. */
  active: number
}

/** The segments of a relative upload path, or an INVALID_INPUT error saying what is wrong with it. */
export function uploadPath(raw: unknown, what = 'The uploaded file path'): string[] {
  if (typeof raw !== 'string' || raw.length === 0) throw new AppError('INVALID_INPUT', `${what} is missing.`, 'Send the path of each file relative to the dropped folder, e.g. cats/cat-1.jpg.')
  const shown = JSON.stringify(raw.length > 120 ? `${raw.slice(0, 100)}…` : raw)
  const bad = (why: string) => new AppError('INVALID_INPUT', `${what} ${shown} is refused: ${why}.`, 'Only plain relative paths inside the dropped folder are accepted (e.g. train/cats/cat-1.jpg).')
  if (raw.length > UPLOAD_LIMITS.pathChars) throw bad(`it is longer than ${UPLOAD_LIMITS.pathChars} characters`)
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw bad(raw.includes('\0') ? 'it contains a NUL byte' : 'it contains a control character')
  if (raw.includes('\\')) throw bad('it contains a backslash')
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw bad('it is absolute')
  const parts = raw.split('/')
  if (parts.length > UPLOAD_LIMITS.depth) throw bad(`it is more than ${UPLOAD_LIMITS.depth} folders deep`)
  for (const p of parts) {
    if (p === '') throw bad('it has an empty part (//, or a / at an end)')
    if (p === '.' || p === '..') throw bad(`it has a "${p}" part`)
    if (p.startsWith('.')) throw bad(`"${p}" is a hidden name (starts with a dot)`)
    if (p.length > UPLOAD_LIMITS.segmentChars) throw bad(`a part is longer than ${UPLOAD_LIMITS.segmentChars} characters`)
    if (/[<>:"|?*]/.test(p)) throw bad(`"${p}" has a character folders cannot hold on every system (<>:"|?*)`)
  }
  return parts
}

const tooBig = (what: string, limit: number) => new AppError('BAD_REQUEST', `${what} is larger than ${Math.round(limit / 1024 / 1024)} MB, the most one upload takes.`, 'Import a folder this large by typing its path on the server instead.')

/** The app's upload staging folders: begin, receive files, discard. One per studio process. */
export class UploadStaging {
  private readonly sessions = new Map<string, Session>()
  constructor(readonly root: string = join(appDataDir(), 'uploads')) {}

  /** Starts an upload of folder `name` for `project` (already checked to be opened this session). */
  async begin(project: string, name: unknown, declared: { files?: number; bytes?: number } = {}): Promise<{ id: string; source: string }> {
    const [folder] = uploadPath(name, 'The uploaded folder name')
    if (uploadPath(name).length !== 1) throw new AppError('INVALID_INPUT', 'The uploaded folder name must be one name, not a path.', 'Send the dropped folder’s own name.')
    if (declared.files !== undefined && (!Number.isInteger(declared.files) || declared.files < 0 || declared.files > UPLOAD_LIMITS.files))
      throw new AppError('BAD_REQUEST', `An upload holds at most ${UPLOAD_LIMITS.files} files (this one has ${declared.files}).`, 'Import a folder this large by typing its path on the server instead.')
    if (declared.bytes !== undefined && (!Number.isFinite(declared.bytes) || declared.bytes < 0 || declared.bytes > UPLOAD_LIMITS.totalBytes)) throw tooBig('This folder', UPLOAD_LIMITS.totalBytes)
    for (const old of [...this.sessions.values()]) if (Date.now() - old.active > UPLOAD_LIMITS.idleMs) await this.discard(old.id, old.project).catch(() => false)
    if (this.sessions.size >= UPLOAD_LIMITS.open)
      throw new AppError('CONFLICT', `${this.sessions.size} uploads are already open in this studio.`, 'Wait for them to finish (or reload the page that started them), then drop the folder again.')
    await this.cleanLeftovers()
    const id = randomBytes(8).toString('hex')
    const dir = join(this.root, id)
    try {
      await mkdir(this.root, { recursive: true })
      await mkdir(dir)
      const marker: Marker = { app: APP_ID, kind: 'upload', pid: process.pid, host: hostname(), project, name: folder, createdAt: new Date().toISOString() }
      await writeFile(join(dir, UPLOAD_MARKER), JSON.stringify(marker, null, 2))
      await mkdir(join(dir, folder))
    } catch (err) {
      await rm(dir, { recursive: true, force: true }).catch(() => undefined)
      throw translateError(err)
    }
    const s: Session = { id, project, dir, source: join(dir, folder), files: 0, bytes: 0, paths: new Set(), active: Date.now() }
    this.sessions.set(id, s)
    return { id, source: s.source }
  }

  private session(id: unknown, project: string): Session {
    const s = typeof id === 'string' && ID.test(id) ? this.sessions.get(id) : undefined
    if (!s || s.project !== project) throw new AppError('NOT_FOUND', 'No such upload (it ended, or the studio was restarted).', 'Drop or choose the folder again.')
    return s
  }

  /** Writes one file of the upload from `body` (at most `length` bytes when the sender says). */
  async put(id: unknown, project: string, rel: unknown, body: Readable, length?: number): Promise<{ files: number; bytes: number }> {
    const s = this.session(id, project)
    const parts = uploadPath(rel)
    const key = parts.join('/').toLowerCase() // a case-insensitive disk would merge A.png and a.png
    if (s.paths.has(key)) throw new AppError('CONFLICT', `${parts.join('/')} was already uploaded in this upload.`, 'Each file of the folder is sent once.')
    if (s.files + 1 > UPLOAD_LIMITS.files) throw new AppError('BAD_REQUEST', `An upload holds at most ${UPLOAD_LIMITS.files} files.`, 'Import a folder this large by typing its path on the server instead.')
    if (length !== undefined && length > UPLOAD_LIMITS.fileBytes) throw tooBig(parts.join('/'), UPLOAD_LIMITS.fileBytes)
    if (length !== undefined && s.bytes + length > UPLOAD_LIMITS.totalBytes) throw tooBig('This folder', UPLOAD_LIMITS.totalBytes)
    s.paths.add(key)
    s.active = Date.now()
    const file = join(s.source, ...parts)
    let size = 0
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length
        if (size > UPLOAD_LIMITS.fileBytes) return done(tooBig(parts.join('/'), UPLOAD_LIMITS.fileBytes))
        if (s.bytes + size > UPLOAD_LIMITS.totalBytes) return done(tooBig('This folder', UPLOAD_LIMITS.totalBytes))
        done(null, chunk)
      },
    })
    try {
      await mkdir(dirname(file), { recursive: true })
      // 'wx': created here, never written through an existing file or link.
      await pipeline(body, count, createWriteStream(file, { flags: 'wx' }))
    } catch (err) {
      s.paths.delete(key)
      await unlink(file).catch(() => undefined)
      throw err instanceof AppError ? err : translateError(err)
    }
    s.files++
    s.bytes += size
    s.active = Date.now()
    return { files: s.files, bytes: s.bytes }
  }

  /** Removes an upload's staging folder (after its import, or when it was cancelled). */
  async discard(id: unknown, project: string): Promise<boolean> {
    const s = this.session(id, project)
    this.sessions.delete(s.id)
    return this.removeOwned(s.dir)
  }

  /** Removes `dir` only when it is one of the app's staging folders (name pattern + marker). */
  private async removeOwned(dir: string): Promise<boolean> {
    const name = dir.slice(this.root.length + 1)
    if (!ID.test(name) || dir !== join(this.root, name)) return false
    const marker = await readFile(join(dir, UPLOAD_MARKER), 'utf8').then((t) => JSON.parse(t) as Partial<Marker>, () => null)
    if (marker?.app !== APP_ID || marker.kind !== 'upload') return false
    await rm(dir, { recursive: true, force: true })
    return true
  }

  /** Staging folders left by studio processes that are gone (killed mid-upload): removed. */
  async cleanLeftovers(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[])
    const removed: string[] = []
    for (const name of names) {
      if (!ID.test(name) || this.sessions.has(name)) continue
      const dir = join(this.root, name)
      const marker = await readFile(join(dir, UPLOAD_MARKER), 'utf8').then((t) => JSON.parse(t) as Partial<Marker>, () => null)
      if (marker?.app !== APP_ID || marker.kind !== 'upload' || typeof marker.pid !== 'number') continue
      // Another host's (a shared app data folder), this process's or a live process's: kept.
      if (marker.host !== hostname() || marker.pid === process.pid || processAlive(marker.pid)) continue
      if (await this.removeOwned(dir).catch(() => false)) removed.push(dir)
    }
    return removed
  }

  /** Every open upload's folder removed (the studio is closing). */
  async close(): Promise<void> {
    for (const s of [...this.sessions.values()]) await this.discard(s.id, s.project).catch(() => false)
  }
}
