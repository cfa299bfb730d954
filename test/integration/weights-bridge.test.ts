import { createServer, type Server } from 'node:http'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHandlers } from '../../src/main/services/handlers'
import type { CallContext } from '../../src/main/services/dispatch'
import type { Progress } from '../../src/shared/contract'
import { tempDir } from '../helpers/env'

// models.weights / models.downloadWeights (the Train view's one-click download) against a local
// mirror of the Keras Applications folder: progress, the cache, a second call is a cache hit,
// and with no route to the server a plain message instead of "fetch failed".
const tmp = tempDir('cs-weights-bridge-')
const FILE = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5'
const BODY = Buffer.alloc(3_000_000, 7)
let server: Server
let requests = 0
const env = { home: process.env.CLASSIFIER_STUDIO_HOME, url: process.env.CLASSIFIER_STUDIO_WEIGHTS_URL }

beforeAll(async () => {
  process.env.CLASSIFIER_STUDIO_HOME = join(tmp.dir, 'home')
  server = createServer(async (req, res) => {
    requests++
    if (req.url !== `/mobilenet_v2/${FILE}`) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-length': BODY.length, 'content-type': 'application/octet-stream' })
    // In slices, a little apart, so the download reports progress on the way.
    for (let i = 0; i < BODY.length; i += 250_000) {
      res.write(BODY.subarray(i, i + 250_000))
      await new Promise((r) => setTimeout(r, 30))
    }
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})
afterAll(() => {
  server?.close()
  for (const [k, v] of [['CLASSIFIER_STUDIO_HOME', env.home], ['CLASSIFIER_STUDIO_WEIGHTS_URL', env.url]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  tmp.cleanup()
})

function ctx(progress: Progress[] = []): CallContext {
  return { onProgress: (p) => progress.push(p), signal: new AbortController().signal, emit: () => undefined }
}

describe('official weights through the bridge', () => {
  const h = createHandlers({ shell: 'web', workspaceDir: tmp.dir })

  it('downloads once with byte progress into the weights cache; then reports it cached without a request', async () => {
    const before = await h.models.weights({ base: 'mobilenetv2', inputSize: 96 }, ctx())
    expect(before).toMatchObject({ name: 'mobilenetv2-1.0-96-notop', file: FILE, cached: false, path: null })
    const progress: Progress[] = []
    const got = await h.models.downloadWeights({ base: 'mobilenetv2', inputSize: 96 }, ctx(progress))
    expect(got).toMatchObject({ cached: true, downloaded: true, bytes: BODY.length, path: join(tmp.dir, 'home', 'weights', FILE) })
    expect(existsSync(got.path!)).toBe(true)
    const mid = progress.filter((p) => p.phase === 'download' && p.done > 0 && p.done < BODY.length)
    expect(mid.length).toBeGreaterThan(0)
    expect(mid.every((p) => p.total === BODY.length)).toBe(true)
    expect(progress.at(-1)).toMatchObject({ phase: 'done', done: BODY.length, total: BODY.length })
    expect(requests).toBe(1)
    expect(await h.models.weights({ base: 'mobilenetv2', inputSize: 96 }, ctx())).toMatchObject({ cached: true, path: got.path })
    expect(await h.models.downloadWeights({ base: 'mobilenetv2', inputSize: 96 }, ctx())).toMatchObject({ cached: true, downloaded: false })
    expect(requests).toBe(1)
  })

  it('with no route to the server: a plain message that names the host and what to do', async () => {
    // A port nothing listens on (connection refused), then a host that cannot resolve.
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    for (const url of [`http://127.0.0.1:${port}/`, 'http://weights.invalid/']) {
      process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = url
      const err = await h.models.downloadWeights({ base: 'mobilenetv2', inputSize: 128 }, ctx()).then(
        () => null,
        (e: Error & { code?: string; hint?: string }) => e,
      )
      expect(err?.message).toMatch(new RegExp(`Could not download the official MobileNetV2 weights: ${new URL(url).host.replace(/\./g, '\\.')} cannot be reached from this computer \\((ECONNREFUSED|ENOTFOUND|EAI_AGAIN)\\)`))
      expect(err?.message).not.toContain('fetch failed')
      expect(err?.hint).toContain('Connect to the internet and press Download again')
      expect(err?.code).toBe('NETWORK')
    }
  })
})
