import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat, writeFile, readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { join } from 'node:path'
import { AppError, translateError } from '../../../shared/errors'

/**
 * Downloads public data-set files into a cache, with progress, resume of a `.part` file via
 * HTTP Range (after a dropped connection, or in a later session), sha256 verification that
 * refuses a mismatch (the bad bytes are deleted, nothing is cached), and cancellation.
 * A file is in the cache only once it is complete and verified, so nothing is downloaded twice.
 */

export interface DownloadProgress {
  phase: 'download' | 'verify'
  url: string
  fileName: string
  /** Bytes on disk for this file (resumed bytes included). */
  received: number
  /** Expected size; null when neither the server nor the caller knows it. */
  total: number | null
  /** Bytes per second over this attempt. */
  rate: number
  etaSeconds: number | null
  /** Set when an attempt resumed from a partial file. */
  resumedFrom?: number
}

export interface DownloadRequest {
  url: string
  fileName: string
  /** Expected sha256 (hex). Null/absent: the size is checked if known and the hash is recorded next to the file. */
  sha256?: string | null
  /** Expected size in bytes, when published. */
  bytes?: number
  /** The cache root; default appDataDir()/datasets. */
  cacheDir: string
  onProgress?: (p: DownloadProgress) => void
  signal?: AbortSignal
  /** Reconnections after a dropped connection or a server error (default 5). */
  retries?: number
  /** Idle time in ms after which a stalled connection counts as dropped (default 30 s). */
  idleTimeoutMs?: number
  /** Wait before a reconnection in ms (doubles each time; default 500). */
  retryDelayMs?: number
}

export interface DownloadResult {
  path: string
  sha256: string
  bytes: number
  fromCache: boolean
  /** Bytes actually transferred in this call. */
  transferred: number
}

const HEX64 = /^[0-9a-f]{64}$/

/** The cache folder of one file: keyed by its checksum when known (a mirror hits the same entry), else by URL. */
export function cacheEntryDir(cacheDir: string, req: Pick<DownloadRequest, 'url' | 'sha256'>): string {
  const key = req.sha256 ? `sha256-${req.sha256.toLowerCase()}` : `url-${createHash('sha256').update(req.url).digest('hex').slice(0, 24)}`
  return join(cacheDir, 'downloads', key)
}

export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256')
  const s = createReadStream(path, { highWaterMark: 1 << 20 })
  for await (const chunk of s) {
    if (signal?.aborted) {
      s.destroy()
      signal.throwIfAborted()
    }
    h.update(chunk as Buffer)
  }
  return h.digest('hex')
}

const sizeOf = (p: string) => stat(p).then((s) => s.size, () => -1)

function cancelled(req: DownloadRequest, kept: number): AppError {
  return new AppError('CANCELLED', `Download of ${req.fileName} cancelled after ${formatBytes(kept)}.`, 'Start it again to continue: the partial file is kept and the download resumes where it stopped.')
}

/** Errors of the local disk or folder (not of the network): the download stops at once instead of retrying. */
const LOCAL_FILE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR', 'EIO'])

/** A failed write of the partial file: what happened, the file, what is kept and how to go on. */
async function localFileError(req: DownloadRequest, part: string, err: NodeJS.ErrnoException): Promise<AppError> {
  const kept = formatBytes(Math.max(0, await sizeOf(part)))
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT')
    return new AppError(
      'DISK_FULL',
      `The disk is full: could not write ${part} while downloading ${req.url} (${err.code}; the ${kept} received are kept in that partial file).`,
      `Free some space on that disk and try again: the download resumes from the partial file. Or delete ${part} to get its space back.`,
    )
  const t = translateError(Object.assign(err, { path: err.path ?? part }))
  return new AppError(t.code, `${t.message.replace(/\.$/, '')} while downloading ${req.url}.`, t.hint)
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Returns the cached, verified file, or downloads (resuming a partial file) and verifies it. */
export async function download(req: DownloadRequest): Promise<DownloadResult> {
  const expected = req.sha256 ? req.sha256.toLowerCase() : null
  if (expected && !HEX64.test(expected)) throw new AppError('INVALID_INPUT', `The checksum given for ${req.fileName} is not a sha256 (64 hex digits): "${req.sha256}".`)
  if (!/^https?:\/\//i.test(req.url)) throw new AppError('INVALID_INPUT', `Cannot download "${req.url}": only http:// and https:// URLs are supported.`, 'Give an http(s) URL, or a local file or folder instead.')
  const dir = cacheEntryDir(req.cacheDir, { url: req.url, sha256: expected })
  const final = join(dir, req.fileName)
  const part = final + '.part'
  const hashFile = final + '.sha256'
  req.signal?.throwIfAborted()

  const cached = await cachedFile(req, expected, final, hashFile)
  if (cached) return cached
  await mkdir(dir, { recursive: true })
  const transferred = await fetchWithRetries(req, part)
  const { got, size } = await verifyPart(req, expected, part, dir)
  await writeFile(hashFile, `${got}  ${req.fileName}\n`)
  await rename(part, final)
  return { path: final, sha256: got, bytes: size, fromCache: false, transferred }
}

/** The cached file when it is verified (by the expected sha256, else by its recorded one and size); a damaged one is removed. */
async function cachedFile(req: DownloadRequest, expected: string | null, final: string, hashFile: string): Promise<DownloadResult | null> {
  const have = await sizeOf(final)
  if (have < 0) return null
  const recorded = (await readFile(hashFile, 'utf8').catch(() => '')).trim().split(/\s+/)[0]
  if (expected) {
    req.onProgress?.({ phase: 'verify', url: req.url, fileName: req.fileName, received: have, total: have, rate: 0, etaSeconds: null })
    const got = await sha256File(final, req.signal)
    if (got === expected) return { path: final, sha256: got, bytes: have, fromCache: true, transferred: 0 }
    await rm(final, { force: true }) // damaged on disk since: fetch it again
  } else if (recorded && HEX64.test(recorded) && (!req.bytes || req.bytes === have)) {
    return { path: final, sha256: recorded, bytes: have, fromCache: true, transferred: 0 }
  } else await rm(final, { force: true })
  return null
}

/** Downloads into `part`, resuming it, with up to `retries` retries after a growing delay; the bytes transferred. */
async function fetchWithRetries(req: DownloadRequest, part: string): Promise<number> {
  const retries = req.retries ?? 5
  let delay = req.retryDelayMs ?? 500
  let transferred = 0
  let lastErr: Error | null = null
  let total: number | null = req.bytes ?? null
  for (let attempt = 0; attempt <= retries; attempt++) {
    req.signal?.throwIfAborted()
    const start = Math.max(0, await sizeOf(part))
    if (total !== null && start === total) break // complete from an earlier attempt
    try {
      const r = await fetchInto(req, part, start)
      transferred += r.transferred
      if (r.total !== null) total = r.total
      if (r.complete) {
        lastErr = null
        break
      }
      lastErr = new Error(`the connection closed after ${formatBytes(start + r.transferred)}${total ? ` of ${formatBytes(total)}` : ''}`)
    } catch (err) {
      if (req.signal?.aborted) throw cancelled(req, await sizeOf(part))
      if (err instanceof AppError) throw err
      if (LOCAL_FILE_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')) throw await localFileError(req, part, err as NodeJS.ErrnoException)
      lastErr = err as Error
    }
    if (attempt < retries) {
      await sleep(delay, req.signal).catch(async () => {
        throw cancelled(req, await sizeOf(part))
      })
      delay = Math.min(delay * 2, 10_000)
    }
  }
  if (lastErr)
    throw new AppError(
      'NETWORK',
      `Could not download ${req.url}: ${lastErr.message} (gave up after ${retries + 1} attempts; ${formatBytes(Math.max(0, await sizeOf(part)))} kept).`,
      'Check the network connection and try again (the download resumes), or pick a mirror URL or a local copy of the file.',
    )
  return transferred
}

/** Checks the finished `part` against the expected sha256 (or size); a wrong one is deleted and refused. Its sha256 and size. */
async function verifyPart(req: DownloadRequest, expected: string | null, part: string, dir: string): Promise<{ got: string; size: number }> {
  const size = await sizeOf(part)
  req.onProgress?.({ phase: 'verify', url: req.url, fileName: req.fileName, received: size, total: size, rate: 0, etaSeconds: null })
  const got = await sha256File(part, req.signal)
  if (expected && got !== expected) {
    await rm(part, { force: true })
    await rmEmpty(dir)
    throw new AppError(
      'INVALID_INPUT',
      `The download of ${req.fileName} from ${req.url} failed its checksum: expected sha256 ${expected}, got ${got} (${size} bytes${req.bytes ? `; expected ${req.bytes}` : ''}). The file was deleted and nothing was cached.`,
      'The server sent different or damaged data. Try again; if it happens again, use another mirror URL or a local copy of the data set.',
    )
  }
  if (!expected && req.bytes && size !== req.bytes) {
    await rm(part, { force: true })
    await rmEmpty(dir)
    throw new AppError(
      'INVALID_INPUT',
      `The download of ${req.fileName} from ${req.url} has ${size} bytes, but the published file has ${req.bytes}. The file was deleted and nothing was cached.`,
      'The server sent a different file. Check the URL, or use a local copy of the data set.',
    )
  }
  return { got, size }
}

async function rmEmpty(dir: string) {
  await rm(dir, { recursive: false }).catch(() => undefined)
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      reject(signal!.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

interface Attempt {
  transferred: number
  total: number | null
  complete: boolean
}

/** One HTTP GET (following redirects) appending to `part` from byte `start`. */
function fetchInto(req: DownloadRequest, part: string, start: number, url = req.url, redirects = 0): Promise<Attempt> {
  return new Promise<Attempt>((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http
    const headers: Record<string, string> = { 'user-agent': 'classifier-studio', 'accept-encoding': 'identity' }
    if (start > 0) headers.range = `bytes=${start}-`
    let settled = false
    const done = (f: () => void) => {
      if (settled) return
      settled = true
      req.signal?.removeEventListener('abort', onAbort)
      f()
    }
    const r = lib.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume()
        if (redirects >= 5) return done(() => reject(new AppError('INTERNAL', `Too many redirects downloading ${req.url}.`, 'Check the URL.')))
        const next = new URL(res.headers.location, url).toString()
        return done(() => fetchInto(req, part, start, next, redirects + 1).then(resolve, reject))
      }
      if (status === 416 && start > 0) {
        // Nothing left to send: the partial file is already the whole file (or is wrong: verify tells).
        res.resume()
        const m = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))
        const total = m ? Number(m[1]) : null
        if (total === null || total === start) return done(() => resolve({ transferred: 0, total: start, complete: true }))
        // The part file is longer than the file: start over.
        return done(() => void rm(part, { force: true }).then(() => resolve({ transferred: 0, total, complete: false }), reject))
      }
      if (status >= 400 && status < 500) {
        res.resume()
        return done(() => reject(new AppError('NOT_FOUND', `Cannot download ${url}: the server answered ${status} ${res.statusMessage ?? ''}.`.replace(' .', '.'), 'Check the URL (a mirror may have moved), or use a local copy of the data set.')))
      }
      if (status !== 200 && status !== 206) {
        res.resume()
        return done(() => reject(new Error(`the server answered ${status} ${res.statusMessage ?? ''}`.trim())))
      }
      // 206: append from `start`; 200: the server ignored the range, so start over.
      const from = status === 206 ? start : 0
      const len = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null
      const cr = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))
      const total = cr ? Number(cr[1]) : len !== null ? from + len : (req.bytes ?? null)
      writeBody(req, res, part, from, total, len).then((a) => done(() => resolve(a)), (err) => done(() => reject(err)))
    })
    r.setTimeout(req.idleTimeoutMs ?? 30_000, () => r.destroy(new Error(`no data for ${Math.round((req.idleTimeoutMs ?? 30_000) / 1000)} s`)))
    r.on('error', (err) => done(() => reject(err)))
    const onAbort = () => {
      r.destroy(new Error('cancelled'))
      done(() => reject(req.signal!.reason))
    }
    if (req.signal) req.signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Writes a response body to `part` (from byte `from`: appended, or the file started over),
 * reporting progress; a dropped connection keeps what arrived (not complete), a failed write
 * (the disk, not the connection) is thrown with the file's path.
 */
async function writeBody(req: DownloadRequest, res: http.IncomingMessage, part: string, from: number, total: number | null, len: number | null): Promise<Attempt> {
  const fh = await open(part, from === 0 ? 'w' : 'a')
  let got = 0
  let ended = false
  const t0 = Date.now()
  let lastTick = 0
  const tick = (force = false) => {
    if (!req.onProgress) return
    const now = Date.now()
    if (!force && now - lastTick < 200) return
    lastTick = now
    const secs = (now - t0) / 1000
    const rate = secs > 0 ? got / secs : 0
    req.onProgress({ phase: 'download', url: req.url, fileName: req.fileName, received: from + got, total, rate, etaSeconds: total !== null && rate > 0 ? (total - from - got) / rate : null, ...(from > 0 ? { resumedFrom: from } : {}) })
  }
  tick(true)
  let writeError: (Error & { path?: string }) | null = null
  try {
    for await (const chunk of res) {
      try {
        await fh.write(chunk as Buffer)
      } catch (err) {
        // The disk, not the connection (ENOSPC, EIO, ...): retrying would not help.
        writeError = err as Error
        break
      }
      got += (chunk as Buffer).length
      tick()
    }
    ended = writeError === null
  } catch {
    // connection dropped mid-body: what arrived is kept, the caller resumes
  } finally {
    await fh.close()
  }
  if (writeError) throw Object.assign(writeError, { path: writeError.path ?? part })
  tick(true)
  const complete = ended && res.complete && (len === null || got === len)
  return { transferred: got, total, complete }
}
