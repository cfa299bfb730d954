import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync } from 'node:fs'
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { extname, join } from 'node:path'
import { once } from 'node:events'
import * as tf from '@tensorflow/tfjs'
import { appDataDir } from '../../platform/app-data'
import { AppError, translateError } from '../../../shared/errors'
import type { MobileNetAlpha, TransferBase, WeightsProgress, WeightsReport } from '../../../shared/models'
import { MOBILENET_SIZES } from '../models/bases'
import { loadKerasH5Weights } from './h5'
import { loadNsfwjsMobileNetV2Weights } from './nsfwjs'
import { loadTfjsLayersWeights } from './tfjs'

/** Keras Applications weights root (keras/src/applications/*.py). */
export const KERAS_APPLICATIONS_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/'

export interface WeightsEntry {
  /** Our name, e.g. "mobilenetv2-1.0-224-notop", "vgg16-notop". */
  name: string
  /** File name in the cache (Keras's own file name). */
  file: string
  /** Path under the base URL. */
  path: string
  /** Checksum Keras passes to get_file (md5 for VGG16); MobileNetV2 has none in Keras. */
  hash?: { algorithm: 'sha256' | 'md5'; value: string }
  base: TransferBase
  alpha?: MobileNetAlpha
  inputSize?: number
}

const alphaText = (a: number) => (a === 1 ? '1.0' : String(a))

/** The official no-top weight files (URLs and hashes as in keras/src/applications/{mobilenet_v2,vgg16}.py). */
export function kerasWeightsCatalog(): WeightsEntry[] {
  const out: WeightsEntry[] = []
  for (const alpha of [0.35, 0.5, 0.75, 1.0] as MobileNetAlpha[]) {
    for (const size of MOBILENET_SIZES) {
      // keras: f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
      const file = `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${alphaText(alpha)}_${size}_no_top.h5`
      out.push({ name: `mobilenetv2-${alphaText(alpha)}-${size}-notop`, file, path: `mobilenet_v2/${file}`, base: 'mobilenetv2', alpha, inputSize: size })
    }
  }
  out.push({
    name: 'vgg16-notop',
    file: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    path: 'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    hash: { algorithm: 'md5', value: '6d6bbae143d832006294945121d1f1fc' },
    base: 'vgg16',
  })
  return out
}

/**
 * The weights file for a base. MobileNetV2 sizes without a published file (e.g. 150) use the
 * 224 file, as Keras does (conv weights do not depend on the input size).
 */
export function weightsNameFor(base: TransferBase, opts: { alpha?: MobileNetAlpha; inputSize?: number } = {}): string {
  if (base === 'vgg16') return 'vgg16-notop'
  const size = opts.inputSize && MOBILENET_SIZES.includes(opts.inputSize) ? opts.inputSize : 224
  return `mobilenetv2-${alphaText(opts.alpha ?? 1.0)}-${size}-notop`
}

export interface EnsureOptions {
  onProgress?: (p: WeightsProgress) => void
  signal?: AbortSignal
  /** Mirror of the Keras Applications folder (default: the official Google storage URL). */
  baseUrl?: string
  /** Automatic resumes after a dropped connection (default 3). */
  retries?: number
}

export interface EnsureResult {
  path: string
  /** false on a cache hit (nothing downloaded). */
  downloaded: boolean
  sha256: string
  bytes: number
}

interface CacheRecord {
  name: string
  url: string
  sha256: string
  bytes: number
  savedAt: string
}

export interface WeightsManagerOptions {
  /** Cache folder; default appDataDir()/weights. */
  dir?: string
  baseUrl?: string
  /** Extra or replacement catalogue entries (same name replaces). */
  catalog?: WeightsEntry[]
}

async function hashFile(file: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const h = createHash(algorithm)
  const s = createReadStream(file)
  for await (const chunk of s) h.update(chunk as Buffer)
  return h.digest('hex')
}

/**
 * A write of the partial file failed (a full disk, no permission): retrying cannot help, so the
 * error is final (`fatal`), names the file, and says what is kept and how to go on.
 */
async function localWriteError(err: NodeJS.ErrnoException, part: string, url: string): Promise<AppError> {
  const kept = await stat(part).then((s) => `${(s.size / 1048576).toFixed(1)} MiB`, () => 'nothing')
  const e =
    err.code === 'ENOSPC' || err.code === 'EDQUOT'
      ? new AppError(
          'DISK_FULL',
          `The disk is full: could not write ${part} while downloading ${url} (${err.code}; ${kept} received are kept in that partial file).`,
          `Free some space on that disk and try again: the download resumes from the partial file. Or delete ${part} to get its space back.`,
        )
      : (() => {
          const t = translateError(Object.assign(err, { path: err.path ?? part }))
          return new AppError(t.code, `${t.message.replace(/\.$/, '')} while downloading ${url}.`, t.hint)
        })()
  return Object.assign(e, { fatal: true })
}

const cancelled = () => new AppError('CANCELLED', 'The weights download was cancelled; the partial file is kept and the next attempt resumes it.')

/**
 * Downloads, verifies and caches pretrained weights. Every download is explicit (ensure);
 * a verified cached file is never downloaded again; a partial download (.part) is resumed
 * with an HTTP Range request; concurrent ensure() calls for one file share one download.
 */
export class WeightsManager {
  readonly dir: string
  private readonly baseUrl: string
  private readonly catalog = new Map<string, WeightsEntry>()
  private readonly inflight = new Map<string, Promise<EnsureResult>>()

  constructor(opts: WeightsManagerOptions = {}) {
    this.dir = opts.dir ?? join(appDataDir(), 'weights')
    this.baseUrl = opts.baseUrl ?? KERAS_APPLICATIONS_URL
    for (const e of [...kerasWeightsCatalog(), ...(opts.catalog ?? [])]) this.catalog.set(e.name, e)
  }

  entries(): WeightsEntry[] {
    return [...this.catalog.values()]
  }

  entry(name: string): WeightsEntry {
    const e = this.catalog.get(name)
    if (!e) throw new AppError('NOT_FOUND', `Unknown weights "${name}".`, `Known weights: ${[...this.catalog.keys()].join(', ')}.`)
    return e
  }

  private paths(e: WeightsEntry) {
    const file = join(this.dir, e.file)
    return { file, part: `${file}.part`, record: `${file}.json` }
  }

  /** The cached file if present and complete (size and checksum recorded at download), else null. No network. */
  async cached(name: string): Promise<EnsureResult | null> {
    const e = this.entry(name)
    const p = this.paths(e)
    if (!existsSync(p.file) || !existsSync(p.record)) return null
    try {
      const rec = JSON.parse(await readFile(p.record, 'utf8')) as CacheRecord
      const st = await stat(p.file)
      if (st.size !== rec.bytes) return null
      return { path: p.file, downloaded: false, sha256: rec.sha256, bytes: rec.bytes }
    } catch {
      return null
    }
  }

  /** Re-hashes a cached file against its record (and Keras's hash when known). */
  async verify(name: string): Promise<boolean> {
    const c = await this.cached(name)
    if (!c) return false
    const e = this.entry(name)
    if ((await hashFile(c.path, 'sha256')) !== c.sha256) return false
    if (e.hash && (await hashFile(c.path, e.hash.algorithm)) !== e.hash.value) return false
    return true
  }

  /** Returns the cached weights file, downloading it (with progress, resume and checksum) only if absent. */
  ensure(name: string, opts: EnsureOptions = {}): Promise<EnsureResult> {
    const running = this.inflight.get(name)
    if (running) return running
    const p = this.ensureInner(name, opts).finally(() => this.inflight.delete(name))
    this.inflight.set(name, p)
    return p
  }

  private async ensureInner(name: string, opts: EnsureOptions): Promise<EnsureResult> {
    const e = this.entry(name)
    const hit = await this.cached(name)
    if (hit) {
      opts.onProgress?.({ name, phase: 'done', receivedBytes: hit.bytes, totalBytes: hit.bytes, resumed: false })
      return hit
    }
    const paths = this.paths(e)
    await mkdir(this.dir, { recursive: true })
    const base = opts.baseUrl ?? this.baseUrl
    const url = new URL(e.path, base.endsWith('/') ? base : `${base}/`).toString()
    const retries = opts.retries ?? 3
    let attempt = 0
    for (;;) {
      try {
        await this.downloadOnce(name, url, paths.part, opts)
        break
      } catch (err) {
        if (err instanceof AppError && (err.code === 'CANCELLED' || (err as AppError & { fatal?: boolean }).fatal)) throw err
        if (opts.signal?.aborted) throw cancelled()
        if (++attempt > retries)
          // The cause (fetch's network error and its code: ENOTFOUND, ECONNREFUSED...) stays attached for callers that explain it.
          throw Object.assign(
            new AppError(
              'NETWORK',
              `Could not download ${e.file} from ${url} after ${retries + 1} attempts: ${(err as Error).message}.`,
              `Check the internet connection and try again (the download resumes). Offline: download the file elsewhere and choose it (CLI --base-weights PATH, a Keras .h5 or a TF.js model.json).`,
            ),
            { cause: err },
          )
      }
    }
    // verify
    const st = await stat(paths.part)
    opts.onProgress?.({ name, phase: 'verify', receivedBytes: st.size, totalBytes: st.size, resumed: attempt > 0 })
    const sha256 = await hashFile(paths.part, 'sha256')
    if (e.hash) {
      const got = e.hash.algorithm === 'sha256' ? sha256 : await hashFile(paths.part, e.hash.algorithm)
      if (got !== e.hash.value) {
        await unlink(paths.part).catch(() => {})
        throw new AppError(
          'INVALID_INPUT',
          `The downloaded ${e.file} is corrupt or not the expected file: its ${e.hash.algorithm} is ${got}, expected ${e.hash.value}. It was deleted and not used.`,
          `Try again; if it keeps failing, the server at ${url} serves a different file.`,
        )
      }
    }
    const record: CacheRecord = { name, url, sha256, bytes: st.size, savedAt: new Date().toISOString() }
    await rename(paths.part, paths.file)
    await writeFile(paths.record, JSON.stringify(record, null, 2))
    opts.onProgress?.({ name, phase: 'done', receivedBytes: st.size, totalBytes: st.size, resumed: attempt > 0 })
    return { path: paths.file, downloaded: true, sha256, bytes: st.size }
  }

  /** One HTTP request, appending to .part from its current size (Range) when it exists. */
  private async downloadOnce(name: string, url: string, part: string, opts: EnsureOptions): Promise<void> {
    if (opts.signal?.aborted) throw cancelled()
    const have = existsSync(part) ? (await stat(part)).size : 0
    let res: Response
    try {
      res = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: opts.signal })
    } catch (err) {
      if (opts.signal?.aborted) throw cancelled()
      throw err
    }
    let start = 0
    let total: number | null = null
    if (res.status === 206) {
      const m = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '')
      start = m ? Number(m[1]) : have
      total = m && m[3] !== '*' ? Number(m[3]) : null
      if (start !== have) throw new Error(`server resumed at byte ${start}, expected ${have}`)
    } else if (res.status === 416 && have > 0) {
      // Range not satisfiable: the .part is already complete (or stale) -> restart cleanly.
      await unlink(part).catch(() => {})
      throw new Error('partial file did not match the server; restarting')
    } else if (res.ok) {
      const len = res.headers.get('content-length')
      total = len ? Number(len) : null
    } else {
      const err = new AppError('NOT_FOUND', `Downloading ${url} failed: HTTP ${res.status} ${res.statusText}.`, 'Check the weights name and the mirror URL, or choose a local weights file.')
      throw Object.assign(err, { fatal: res.status >= 400 && res.status < 500 })
    }
    const resumed = start > 0
    const out = createWriteStream(part, { flags: start > 0 ? 'a' : 'w' })
    // A failed write (a full disk) errors and closes the stream without 'drain': waiting for
    // 'drain' alone hung the download forever. Wait for drain or close, and keep the error.
    let writeError: NodeJS.ErrnoException | null = null
    out.on('error', (e: NodeJS.ErrnoException) => (writeError ??= e))
    const drainedOrClosed = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          out.off('drain', done)
          out.off('close', done)
          resolve()
        }
        out.on('drain', done)
        out.on('close', done)
      })
    let received = start
    let lastEmit = 0
    opts.onProgress?.({ name, phase: 'download', receivedBytes: received, totalBytes: total, resumed })
    try {
      if (!res.body) throw new Error('empty response body')
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (opts.signal?.aborted) throw cancelled()
        if (writeError || out.destroyed) break
        if (!out.write(chunk)) await drainedOrClosed()
        if (writeError) break
        received += chunk.byteLength
        const now = Date.now()
        if (now - lastEmit > 100) {
          lastEmit = now
          opts.onProgress?.({ name, phase: 'download', receivedBytes: received, totalBytes: total, resumed })
        }
      }
    } catch (err) {
      if (opts.signal?.aborted) throw cancelled()
      throw err
    } finally {
      out.end()
      if (!out.closed) await once(out, 'close').catch(() => {})
    }
    if (writeError) throw await localWriteError(writeError, part, url)
    if (total !== null && received !== total) throw new Error(`connection closed after ${received} of ${total} bytes`)
    opts.onProgress?.({ name, phase: 'download', receivedBytes: received, totalBytes: total, resumed })
  }
}

export type WeightsSource =
  /** A catalogue name, downloaded (once) through the manager. */
  | { kind: 'keras'; name: string }
  /** A file the user already has: a Keras .h5 or a TF.js model.json. */
  | { kind: 'file'; path: string }
  /** nsfwjs's MobileNetV2 (alpha 1.0) weights, offline. */
  | { kind: 'nsfwjs' }

/** Classifies a user-given weights file by extension, with a clear error otherwise. */
export function weightsFileKind(path: string): 'h5' | 'tfjs' {
  const ext = extname(path).toLowerCase()
  if (ext === '.h5' || ext === '.hdf5' || ext === '.keras') return 'h5'
  if (ext === '.json') return 'tfjs'
  throw new AppError('INVALID_INPUT', `Unsupported weights file "${path}".`, 'Choose a Keras .h5 weights file or a TF.js model.json (with its .bin files next to it).')
}

/** Loads base weights into a model (a base or a transfer model containing it) from any source. */
export async function loadWeightsFromSource(
  model: tf.LayersModel,
  source: WeightsSource,
  opts: EnsureOptions & { manager?: WeightsManager } = {},
): Promise<WeightsReport & { path?: string }> {
  if (source.kind === 'nsfwjs') return loadNsfwjsMobileNetV2Weights(model)
  if (source.kind === 'file') {
    if (!existsSync(source.path)) throw new AppError('NOT_FOUND', `Weights file not found: ${source.path}`)
    const kind = weightsFileKind(source.path)
    const report = kind === 'h5' ? await loadKerasH5Weights(model, source.path) : await loadTfjsLayersWeights(model, source.path)
    return { ...report, path: source.path }
  }
  const manager = opts.manager ?? new WeightsManager()
  const got = await manager.ensure(source.name, opts)
  return { ...(await loadKerasH5Weights(model, got.path)), path: got.path }
}
