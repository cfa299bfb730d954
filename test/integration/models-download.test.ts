import { createHash, randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { WeightsManager, weightsNameFor, kerasWeightsCatalog, type WeightsEntry } from '../../src/main/ml/weights'
import type { WeightsProgress } from '../../src/shared/models'

const CONTENT = randomBytes(600_000)
const SHA = createHash('sha256').update(CONTENT).digest('hex')

interface Req {
  url: string
  range?: string
}
let server: Server
let baseUrl: string
let requests: Req[] = []
/** Serve only this many bytes of the next full-body response, then destroy the socket. */
let dropAfter: number | null = null
let serveWrong = false

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? '', range: req.headers.range })
    if (!req.url?.endsWith('.h5')) {
      res.writeHead(404).end('not found')
      return
    }
    const body = serveWrong ? Buffer.alloc(CONTENT.length, 7) : CONTENT
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '')
    const start = m ? Number(m[1]) : 0
    const slice = body.subarray(start)
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': slice.length, 'accept-ranges': 'bytes' }
    if (m) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`
    res.writeHead(m ? 206 : 200, headers)
    if (dropAfter !== null) {
      const n = dropAfter
      dropAfter = null
      res.write(slice.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20))
      return
    }
    res.end(slice)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`
})
afterAll(() => new Promise<void>((r) => server.close(() => r())))

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'weights-cache-'))
  requests = []
  dropAfter = null
  serveWrong = false
  return () => rmSync(dir, { recursive: true, force: true })
})

const testEntry: WeightsEntry = { name: 'test-notop', file: 'test_notop.h5', path: 'test/test_notop.h5', base: 'vgg16', hash: { algorithm: 'sha256', value: SHA } }

describe('WeightsManager (local HTTP server)', () => {
  it('downloads with progress events, verifies sha256, caches; a second ensure is a cache hit with no request', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    const events: WeightsProgress[] = []
    const r = await m.ensure('test-notop', { onProgress: (p) => events.push(p) })
    expect(r.downloaded).toBe(true)
    expect(r.sha256).toBe(SHA)
    expect(readFileSync(r.path).equals(CONTENT)).toBe(true)
    expect(requests.map((q) => q.url)).toEqual(['/mirror/test/test_notop.h5'])
    const dl = events.filter((e) => e.phase === 'download')
    expect(dl.length).toBeGreaterThanOrEqual(2)
    expect(dl.at(-1)).toMatchObject({ receivedBytes: CONTENT.length, totalBytes: CONTENT.length, resumed: false })
    expect(events.map((e) => e.phase)).toContain('verify')
    expect(events.at(-1)?.phase).toBe('done')
    expect(existsSync(`${r.path}.part`)).toBe(false)

    // cache hit, server unreachable (a new manager with a dead mirror): nothing downloaded again
    const offline = new WeightsManager({ dir, baseUrl: 'http://127.0.0.1:9/', catalog: [testEntry] })
    const again = await offline.ensure('test-notop')
    expect(again).toMatchObject({ path: r.path, downloaded: false, sha256: SHA })
    expect(requests).toHaveLength(1)
    expect(await offline.verify('test-notop')).toBe(true)
  })

  it('concurrent ensure() calls share one download', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    const [a, b] = await Promise.all([m.ensure('test-notop'), m.ensure('test-notop')])
    expect(a.path).toBe(b.path)
    expect(requests).toHaveLength(1)
  })

  it('resumes with an HTTP Range request after a dropped connection', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    dropAfter = 200_000
    const events: WeightsProgress[] = []
    const r = await m.ensure('test-notop', { onProgress: (p) => events.push(p) })
    expect(readFileSync(r.path).equals(CONTENT)).toBe(true)
    expect(requests).toHaveLength(2)
    expect(requests[0].range).toBeUndefined()
    const resumedAt = Number(/bytes=(\d+)-/.exec(requests[1].range ?? '')?.[1])
    expect(resumedAt).toBeGreaterThan(0)
    expect(resumedAt).toBeLessThanOrEqual(200_000)
    expect(events.some((e) => e.phase === 'download' && e.resumed && e.receivedBytes === resumedAt)).toBe(true)
  })

  it('resumes a .part left by a previous session', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    writeFileSync(join(dir, 'test_notop.h5.part'), CONTENT.subarray(0, 123_456))
    const r = await m.ensure('test-notop')
    expect(requests).toEqual([{ url: '/mirror/test/test_notop.h5', range: 'bytes=123456-' }])
    expect(statSync(r.path).size).toBe(CONTENT.length)
    expect(r.sha256).toBe(SHA)
  })

  it('refuses a checksum mismatch with a clear error and keeps nothing', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    serveWrong = true
    const err = await m.ensure('test-notop').catch((e) => e)
    expect(err.code).toBe('INVALID_INPUT')
    expect(err.message).toMatch(new RegExp(`test_notop.h5 is corrupt or not the expected file: its sha256 is [0-9a-f]{64}, expected ${SHA}`))
    expect(existsSync(join(dir, 'test_notop.h5'))).toBe(false)
    expect(existsSync(join(dir, 'test_notop.h5.part'))).toBe(false)
    expect(await m.cached('test-notop')).toBeNull()
    // Keras's md5 for VGG16 is enforced too
    const vgg = await m.ensure('vgg16-notop').catch((e) => e)
    expect(requests.at(-1)?.url).toBe('/mirror/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5')
    expect(vgg.message).toMatch(/its md5 is [0-9a-f]{32}, expected 6d6bbae143d832006294945121d1f1fc/)
  })

  it('cancels on abort, keeping the .part for a later resume; HTTP errors are clear', async () => {
    const m = new WeightsManager({ dir, baseUrl, catalog: [testEntry] })
    const ac = new AbortController()
    ac.abort()
    await expect(m.ensure('test-notop', { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' })
    const bad = new WeightsManager({ dir, baseUrl: baseUrl.replace('/mirror/', '/'), catalog: [{ ...testEntry, path: 'missing.bin' }] })
    await expect(bad.ensure('test-notop', { retries: 0 })).rejects.toThrow(/HTTP 404/)
  })

  it('a full disk ends the download at once with DISK_FULL naming the .part (it used to wait for "drain" forever)', async (ctx) => {
    // A 1 MiB tmpfs as the cache with 200 KB left (Linux, root); elsewhere skipped with the reason printed.
    const mnt = join(dir, 'small-disk')
    let why = ''
    if (process.platform !== 'linux') why = `tmpfs needs Linux (this is ${process.platform})`
    else
      try {
        mkdirSync(mnt)
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' })
      } catch (err) {
        why = `cannot mount a 1 MiB tmpfs (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}); run as root on Linux to test a full disk`
      }
    if (why) {
      console.warn(`skipped: ${why}`)
      ctx.skip(why)
    }
    try {
      const free = () => statfsSync(mnt).bavail * statfsSync(mnt).bsize
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(free() - 200 * 1024))
      const m = new WeightsManager({ dir: mnt, baseUrl, catalog: [testEntry] })
      const err = (await m.ensure('test-notop').catch((e: unknown) => e)) as { code: string; message: string; hint: string }
      const part = join(mnt, 'test_notop.h5.part')
      expect(err).toMatchObject({ code: 'DISK_FULL', hint: expect.stringContaining(`delete ${part}`) })
      expect(err.message).toMatch(/^The disk is full: could not write \S+test_notop\.h5\.part while downloading http:\/\/127\.0\.0\.1:\d+\/mirror\/test\/test_notop\.h5 \(ENOSPC; [\d.]+ MiB received are kept in that partial file\)\.$/)
      expect(requests.length).toBe(1) // final: not retried
      // With space again, the next ensure resumes from the partial file and verifies.
      rmSync(join(mnt, 'filler'))
      const r = await m.ensure('test-notop')
      expect(readFileSync(r.path).equals(CONTENT)).toBe(true)
      expect(requests.at(-1)?.range).toMatch(/^bytes=\d+-$/)
    } finally {
      if (!why) execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
    }
  })

  it('catalogue: Keras file names and URLs', () => {
    const names = kerasWeightsCatalog().map((e) => e.name)
    expect(names).toContain('mobilenetv2-0.35-96-notop')
    expect(weightsNameFor('mobilenetv2', { alpha: 0.5, inputSize: 160 })).toBe('mobilenetv2-0.5-160-notop')
    expect(weightsNameFor('mobilenetv2', { inputSize: 150 })).toBe('mobilenetv2-1.0-224-notop')
    const e = new WeightsManager({ dir }).entry('mobilenetv2-1.0-224-notop')
    expect(e.path).toBe('mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5')
    expect(() => new WeightsManager({ dir }).entry('resnet')).toThrow(/Unknown weights "resnet"/)
  })
})
