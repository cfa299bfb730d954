import { AppError } from '../../shared/errors'
import type { OfficialWeights } from '../../shared/contract'
import { WeightsManager, weightsNameFor } from '../ml/weights'
import type { CallContext } from './dispatch'

/** The Keras Applications mirror the studio downloads from (tests and offline mirrors set it), else the official one. */
function manager(): WeightsManager {
  return new WeightsManager({ baseUrl: process.env.CLASSIFIER_STUDIO_WEIGHTS_URL || undefined })
}

/** The official ImageNet weights file a base at this input size trains with, and whether it is cached. */
export async function officialWeights(base: 'mobilenetv2' | 'vgg16', inputSize?: number): Promise<OfficialWeights> {
  const m = manager()
  const name = weightsNameFor(base, { inputSize })
  const e = m.entry(name)
  const hit = await m.cached(name)
  return { name, file: e.file, base, cached: !!hit, path: hit?.path ?? null, bytes: hit?.bytes ?? null, downloaded: false }
}

/** Why a download that never reached a server failed, in plain words (no route, no DNS, refused). */
function offline(err: unknown): string | null {
  const seen = new Set<unknown>()
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined; e && !seen.has(e); e = e.cause as typeof e) {
    seen.add(e)
    const code = typeof e.code === 'string' ? e.code : ''
    if (/^(ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|ECONNRESET|ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_SOCKET)$/.test(code)) return code
    if (typeof e.message === 'string' && /fetch failed|getaddrinfo|network/i.test(e.message) && !e.cause) return 'network'
  }
  return null
}

/**
 * Downloads the official weights once (progress in MB, resume of a partial file, checksum, cache
 * in the app data folder); training then uses them instead of the built-in ones. A cache hit
 * answers at once. Cancelling keeps the partial file for the next attempt.
 */
export async function downloadOfficialWeights(base: 'mobilenetv2' | 'vgg16', inputSize: number | undefined, ctx: Pick<CallContext, 'signal' | 'onProgress'>): Promise<OfficialWeights> {
  const m = manager()
  const name = weightsNameFor(base, { inputSize })
  const e = m.entry(name)
  const host = (() => {
    try {
      return new URL(process.env.CLASSIFIER_STUDIO_WEIGHTS_URL || 'https://storage.googleapis.com/tensorflow/keras-applications/').host
    } catch {
      return 'the weights server'
    }
  })()
  try {
    const r = await m.ensure(name, {
      signal: ctx.signal,
      retries: 2,
      onProgress: (p) => ctx.onProgress({ phase: p.phase, done: p.receivedBytes, total: p.totalBytes ?? 0, message: p.phase === 'verify' ? 'Checking the file…' : p.resumed ? 'Resuming the download…' : undefined }),
    })
    return { name, file: e.file, base, cached: true, path: r.path, bytes: r.bytes, downloaded: r.downloaded }
  } catch (err) {
    const why = offline(err)
    if (why && !(err instanceof AppError && err.code === 'CANCELLED'))
      throw new AppError(
        'NETWORK',
        `Could not download the official ${base === 'vgg16' ? 'VGG16' : 'MobileNetV2'} weights: ${host} cannot be reached from this computer (${why === 'network' ? 'no network connection' : why}).`,
        `Connect to the internet and press Download again (a partial download resumes). Offline: get ${e.file} elsewhere and give its path as the base weights file; training keeps using the built-in weights meanwhile.`,
      )
    throw err
  }
}
