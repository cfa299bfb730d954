import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cacheEntryDir, download, type DownloadProgress } from '../../src/main/services/examples/download'
import { AppError } from '../../src/shared/errors'

/** A file server with Range support whose misbehaviour each test chooses. */
interface ServerPlan {
  body: Buffer
  /** Requests (0-based) on which the server sends only this many body bytes, then drops the connection. */
  dropAfter?: Record<number, number>
  /** Ignore Range headers (always 200 with the whole body). */
  noRange?: boolean
  /** Send each chunk this slowly (ms between 16 KiB chunks). */
  slowMs?: number
  status?: number
}

interface Server {
  url: string
  requests: { range: string | undefined; path: string }[]
  close(): Promise<void>
}

async function serve(plan: ServerPlan): Promise<Server> {
  const requests: Server['requests'] = []
  const sockets = new Set<import('node:net').Socket>()
  const server = http.createServer((req, res) => {
    const n = requests.length
    requests.push({ range: req.headers.range, path: req.url ?? '' })
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/file.bin' })
      return res.end()
    }
    if (plan.status) {
      res.writeHead(plan.status)
      return res.end('nope')
    }
    let start = 0
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '')
    if (m && !plan.noRange) {
      start = Number(m[1])
      if (start >= plan.body.length) {
        res.writeHead(416, { 'content-range': `bytes */${plan.body.length}` })
        return res.end()
      }
      res.writeHead(206, { 'content-length': plan.body.length - start, 'content-range': `bytes ${start}-${plan.body.length - 1}/${plan.body.length}`, 'accept-ranges': 'bytes' })
    } else res.writeHead(200, { 'content-length': plan.body.length, 'accept-ranges': plan.noRange ? 'none' : 'bytes' })
    const slice = plan.body.subarray(start)
    const drop = plan.dropAfter?.[n]
    const limit = drop === undefined ? slice.length : Math.min(drop, slice.length)
    let at = 0
    const pump = () => {
      while (at < limit) {
        const end = Math.min(limit, at + 16384)
        // Drop the connection only once the last byte is handed to the kernel: destroying a
        // socket discards writes still queued in Node, and the client would get fewer bytes.
        const last = end === limit && drop !== undefined
        const ok = res.write(slice.subarray(at, end), last ? () => setTimeout(() => req.socket.destroy(), 10) : undefined)
        at = end
        if (plan.slowMs) return void setTimeout(pump, plan.slowMs)
        if (!ok) return void res.once('drain', pump)
      }
      if (drop === undefined) res.end()
    }
    pump()
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/file.bin`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

let tmp: string
let srv: Server | null = null
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'examples-dl-'))
})
afterEach(async () => {
  await srv?.close()
  srv = null
  await rm(tmp, { recursive: true, force: true })
})

describe('download', () => {
  it('reports progress up to the full size and caches the verified file', async () => {
    const body = randomBytes(300_000)
    srv = await serve({ body, slowMs: 25 })
    const events: DownloadProgress[] = []
    const r = await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: tmp, onProgress: (p) => events.push(p) })
    expect(r.fromCache).toBe(false)
    expect(r.bytes).toBe(body.length)
    expect(r.transferred).toBe(body.length)
    expect(Buffer.compare(await readFile(r.path), body)).toBe(0)
    const dl = events.filter((e) => e.phase === 'download')
    expect(dl.length).toBeGreaterThan(2)
    for (let i = 1; i < dl.length; i++) expect(dl[i].received).toBeGreaterThanOrEqual(dl[i - 1].received)
    expect(dl.every((e) => e.total === body.length)).toBe(true)
    expect(dl.at(-1)!.received).toBe(body.length)
    expect(events.at(-1)!.phase).toBe('verify')
    // Only the verified file (and its recorded hash) are in the cache entry: no .part left.
    expect((await readdir(cacheEntryDir(tmp, { url: srv.url, sha256: sha(body) }))).sort()).toEqual(['file.bin', 'file.bin.sha256'])
  })

  it('resumes with a Range request after the server drops the connection mid-body', async () => {
    const body = randomBytes(200_000)
    srv = await serve({ body, dropAfter: { 0: 70_000 } })
    const events: DownloadProgress[] = []
    const r = await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: tmp, retryDelayMs: 10, onProgress: (p) => events.push(p) })
    // It resumes from what reached the disk: all 70,000 bytes sent, or fewer when the drop cut off
    // bytes the client had received but not yet written (seen under load: 65,387).
    expect(srv.requests).toHaveLength(2)
    expect(srv.requests[0].range).toBeUndefined()
    const from = Number(/^bytes=(\d+)-$/.exec(srv.requests[1].range ?? '')?.[1])
    expect(from).toBeGreaterThan(0)
    expect(from).toBeLessThanOrEqual(70_000)
    expect(r.transferred).toBe(body.length) // `from` + the rest: nothing fetched twice
    expect(Buffer.compare(await readFile(r.path), body)).toBe(0)
    expect(events.some((e) => e.resumedFrom === from)).toBe(true)
  })

  it('starts over when a server ignores Range (200 instead of 206) and still ends with the right bytes', async () => {
    const body = randomBytes(120_000)
    srv = await serve({ body, noRange: true, dropAfter: { 0: 50_000 } })
    const r = await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: tmp, retryDelayMs: 10 })
    expect(srv.requests[1].range).toBe('bytes=50000-')
    expect(r.transferred).toBe(50_000 + body.length)
    expect(Buffer.compare(await readFile(r.path), body)).toBe(0)
  })

  it('keeps the partial file on cancel and resumes from it in a later call', async () => {
    const body = randomBytes(400_000)
    srv = await serve({ body, slowMs: 30 })
    const ac = new AbortController()
    const p = download({
      url: srv.url,
      fileName: 'file.bin',
      sha256: sha(body),
      cacheDir: tmp,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.received > 100_000) ac.abort()
      },
    })
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('CANCELLED')
    expect((err as AppError).message).toMatch(/cancelled after/)
    const part = join(cacheEntryDir(tmp, { url: srv.url, sha256: sha(body) }), 'file.bin.part')
    const kept = (await readFile(part)).length
    expect(kept).toBeGreaterThan(100_000)
    expect(kept).toBeLessThan(body.length)
    const r = await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: tmp })
    expect(srv.requests.at(-1)!.range).toBe(`bytes=${kept}-`)
    expect(r.transferred).toBe(body.length - kept)
    expect(Buffer.compare(await readFile(r.path), body)).toBe(0)
  })

  it('refuses a checksum mismatch with a clear message and leaves nothing in the cache', async () => {
    const body = randomBytes(50_000)
    const published = sha(Buffer.concat([body, Buffer.from('x')]))
    srv = await serve({ body })
    const err = (await download({ url: srv.url, fileName: 'data.gz', sha256: published, cacheDir: tmp }).catch((e: unknown) => e)) as AppError
    expect(err).toBeInstanceOf(AppError)
    expect(err.message).toContain(`expected sha256 ${published}, got ${sha(body)}`)
    expect(err.message).toContain('nothing was cached')
    expect(err.hint).toMatch(/mirror|local copy/)
    expect(existsSync(join(cacheEntryDir(tmp, { url: srv.url, sha256: published }), 'data.gz'))).toBe(false)
    expect(existsSync(join(cacheEntryDir(tmp, { url: srv.url, sha256: published }), 'data.gz.part'))).toBe(false)
    // and a second attempt downloads again (it was not cached)
    const before = srv.requests.length
    await download({ url: srv.url, fileName: 'data.gz', sha256: published, cacheDir: tmp }).catch(() => undefined)
    expect(srv.requests.length).toBe(before + 1)
  })

  it('without a published checksum: checks the size, records the hash, refuses a wrong size', async () => {
    const body = randomBytes(30_000)
    srv = await serve({ body })
    const wrong = (await download({ url: srv.url, fileName: 'a.zip', bytes: 30_001, cacheDir: tmp }).catch((e: unknown) => e)) as AppError
    expect(wrong.message).toMatch(/has 30000 bytes, but the published file has 30001/)
    const r = await download({ url: srv.url, fileName: 'a.zip', bytes: 30_000, cacheDir: tmp })
    expect(r.sha256).toBe(sha(body))
    expect((await readFile(r.path + '.sha256', 'utf8')).split(' ')[0]).toBe(sha(body))
  })

  it('serves a cache hit with the server down (and re-verifies it)', async () => {
    const body = randomBytes(80_000)
    srv = await serve({ body })
    const first = await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: tmp })
    await srv.close()
    srv = null
    const again = await download({ url: 'http://127.0.0.1:9/elsewhere/file.bin', fileName: 'file.bin', sha256: sha(body), cacheDir: tmp, retries: 0 })
    expect(again.fromCache).toBe(true)
    expect(again.path).toBe(first.path)
    expect(again.transferred).toBe(0)
    // A damaged cached file is not served: with the server down this now fails instead.
    await writeFile(first.path, Buffer.from('damaged'))
    const err = (await download({ url: 'http://127.0.0.1:9/file.bin', fileName: 'file.bin', sha256: sha(body), cacheDir: tmp, retries: 0 }).catch((e: unknown) => e)) as AppError
    expect(err).toBeInstanceOf(AppError)
    expect(err.message).toMatch(/Could not download/)
    expect(err.code).toBe('NETWORK') // the network's failure, not the app's (HTTP 502 on the web bridge, not 500)
  })

  it('follows redirects and reports HTTP errors by status', async () => {
    const body = randomBytes(10_000)
    srv = await serve({ body })
    const r = await download({ url: srv.url.replace('/file.bin', '/moved'), fileName: 'file.bin', sha256: sha(body), cacheDir: tmp })
    expect(Buffer.compare(await readFile(r.path), body)).toBe(0)
    await srv.close()
    srv = await serve({ body, status: 404 })
    const err = (await download({ url: srv.url, fileName: 'x.bin', sha256: sha(body).replace(/^./, '0'), cacheDir: tmp }).catch((e: unknown) => e)) as AppError
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toMatch(/answered 404/)
  })

  it('a full disk stops the download at once with DISK_FULL naming the partial file (no retries as if the connection dropped)', async (ctx) => {
    // A 1 MiB tmpfs as the cache (Linux, root); elsewhere skipped with the reason printed.
    const mnt = join(tmp, 'small-disk')
    let why = ''
    if (process.platform !== 'linux') why = `tmpfs needs Linux (this is ${process.platform})`
    else
      try {
        await mkdir(mnt)
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' })
      } catch (err) {
        why = `cannot mount a 1 MiB tmpfs (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}); run as root on Linux to test a full disk`
      }
    if (why) {
      console.warn(`skipped: ${why}`)
      ctx.skip(why)
    }
    try {
      const body = randomBytes(3 << 20)
      srv = await serve({ body })
      const t0 = Date.now()
      const err = (await download({ url: srv.url, fileName: 'file.bin', sha256: sha(body), cacheDir: mnt, retryDelayMs: 2000 }).catch((e: unknown) => e)) as AppError
      expect(err).toBeInstanceOf(AppError)
      const part = join(cacheEntryDir(mnt, { url: srv.url, sha256: sha(body) }), 'file.bin.part')
      expect(err.code).toBe('DISK_FULL')
      expect(err.message.startsWith(`The disk is full: could not write ${part} while downloading ${srv.url} (ENOSPC; the `)).toBe(true)
      expect(err.message).toMatch(/\(ENOSPC; the [\d.]+ (KiB|MiB|B) received are kept in that partial file\)\.$/)
      expect(err.hint).toContain(`delete ${part}`)
      expect(srv.requests.length).toBe(1) // not retried
      expect(Date.now() - t0).toBeLessThan(2000)
    } finally {
      if (!why) execFileSync('umount', ['-l', mnt], { stdio: 'pipe' })
    }
  })
})
