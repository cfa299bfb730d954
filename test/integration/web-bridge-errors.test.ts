import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import type { Dispatcher } from '../../src/main/services/dispatch'
import { startWebServer } from '../../src/main/web/server'
import { isolatedHome, tempDir } from '../helpers/env'
import { hasStack, rawHttp, rawRequest, startBridge, type Bridge } from '../helpers/raw-http'

const TOKEN = 'test-token-0123456789'

describe('web bridge: hostile requests and error statuses', () => {
  let bridge: Bridge
  let home: ReturnType<typeof isolatedHome>
  let ws: ReturnType<typeof tempDir>
  let port: number
  let host: string
  const auth = (): [string, string][] => [['Host', host], ['Authorization', `Bearer ${TOKEN}`], ['Connection', 'close']]
  const api = (method: string, body: unknown, extra: [string, string][] = []) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    return rawRequest(port, rawHttp('POST', `/api/${method}`, [...auth(), ['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(text))], ...extra], text))
  }
  const json = (body: string) => JSON.parse(body) as { error?: { code: string; message: string; hint?: string }; result?: unknown }
  const upgrade = (hostHeader: string | null, target = '/events', extra: [string, string][] = []) =>
    rawRequest(
      port,
      rawHttp('GET', target, [
        ...(hostHeader === null ? [] : ([['Host', hostHeader]] as [string, string][])),
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
        ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
        ['Sec-WebSocket-Version', '13'],
        ['Origin', `http://127.0.0.1:${port}`],
        ['Cookie', `cs_token=${TOKEN}`],
        ...extra,
      ]),
    )
  /** The server still answers an authenticated call. */
  const alive = async () => {
    const r = await api('app/info', {})
    expect(r.status).toBe(200)
    expect((json(r.body).result as { shell: string }).shell).toBe('web')
  }

  beforeAll(async () => {
    home = isolatedHome()
    ws = tempDir('cs-bridge-ws-')
    bridge = await startBridge(ws.dir, TOKEN)
    port = bridge.server.port
    host = bridge.host
  })
  afterAll(async () => {
    await bridge?.server.close()
    rmSync(bridge.staticDir, { recursive: true, force: true })
    ws.cleanup()
    home.cleanup()
  })
  afterEach(() => vi.restoreAllMocks())

  it('survives WebSocket upgrades with any Host, and refuses them with 400/403 and a JSON error', async () => {
    const hosts = [`127.0.0.1:${port}.evil.example`, '', 'a b%', '[::1', `127.0.0.1:${port}/x`, 'ĥöst:1', 'x'.repeat(8000), '%', `127.0.0.1:${port}@evil`]
    for (const h of [...hosts, null]) {
      const r = await upgrade(h)
      expect(r.timedOut, `Host ${JSON.stringify(h?.slice(0, 40))}`).toBe(false)
      expect([400, 403, 421, 431], `Host ${JSON.stringify(h?.slice(0, 40))}: ${r.status}`).toContain(r.status)
      expect(hasStack(r.body)).toBe(false)
    }
    for (const target of ['/%', '/%E0%A4%A', '//x', '/events?token=%', `/events/${'a'.repeat(5000)}`, '*', 'http://evil/events']) {
      const r = await upgrade(host, target)
      expect(r.timedOut, target).toBe(false)
      expect([400, 403, 404], `${target}: ${r.status}`).toContain(r.status)
    }
    await alive()
  })

  it('still upgrades a proper /events request, and a garbage frame closes only that socket', async () => {
    const sock = new WebSocket(`ws://${host}/events`, { headers: { origin: `http://${host}`, cookie: `cs_token=${TOKEN}` } })
    await new Promise<void>((res, rej) => {
      sock.once('open', () => res())
      sock.once('error', rej)
    })
    const closed = new Promise<void>((res) => sock.once('close', () => res()))
    sock.on('error', () => undefined)
    // An unmasked frame with reserved bits set: invalid from a client.
    ;(sock as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
    await closed
    await alive()
  })

  it('answers odd Host headers on plain requests with a 4xx JSON error, never a stack', async () => {
    for (const h of ['', 'a b%', '[::1', 'ĥöst', `127.0.0.1:${port}.evil.example`, '%zz', 'x'.repeat(10_000)]) {
      const r = await rawRequest(port, rawHttp('GET', '/', [['Host', h], ['Authorization', `Bearer ${TOKEN}`], ['Connection', 'close']]))
      expect(r.timedOut).toBe(false)
      expect(r.status, JSON.stringify(h.slice(0, 40))).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
      expect(hasStack(r.body)).toBe(false)
      if (r.headers['content-type']?.startsWith('application/json')) expect(json(r.body).error?.message).toBeTruthy()
    }
    // HTTP/1.1 without Host at all.
    const r = await rawRequest(port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n')
    expect(r.status).toBe(400)
    await alive()
  })

  it('answers bad percent-encoding in the URL with 400, authenticated or not', async () => {
    for (const target of ['/%', '/%E0%A4%A', '/%00', '/files/%', '/api/%/%', `/${'%'.repeat(3000)}`]) {
      const r = await rawRequest(port, rawHttp('GET', target, auth()))
      expect(r.timedOut).toBe(false)
      expect([400, 404, 405], `${target}: ${r.status} ${r.body}`).toContain(r.status)
      expect(hasStack(r.body)).toBe(false)
      const u = await rawRequest(port, rawHttp('GET', target, [['Host', host], ['Connection', 'close']]))
      expect(u.status).toBe(401)
    }
    const r = await rawRequest(port, rawHttp('GET', '/%E0%A4%A', auth()))
    expect(r.status).toBe(400)
    expect(json(r.body).error?.message).toMatch(/percent-encod/)
    await alive()
  })

  it('answers malformed HTTP (clientError) and CONNECT with a well-formed status', async () => {
    for (const data of ['HELLO\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header\r\n\r\n', `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, `GET / HTTP/1.1\r\nX: ${'y'.repeat(20_000)}\r\n\r\n`]) {
      const r = await rawRequest(port, data)
      expect(r.timedOut).toBe(false)
      expect(r.status).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
      expect(hasStack(r.body)).toBe(false)
    }
    const c = await rawRequest(port, rawHttp('CONNECT', `127.0.0.1:${port}`, [['Host', host]]))
    expect(c.status).toBe(405)
    await alive()
  })

  it('refuses JSON nested deeper than 64 levels with 400, not a stack overflow', async () => {
    for (const depth of [65, 10_000, 1_000_000]) {
      const r = await api('projects/saveState', `{"dir":"/x","key":"k","value":${'['.repeat(depth)}${']'.repeat(depth)}}`)
      expect(r.status).toBe(400)
      expect(json(r.body).error?.message).toMatch(/nested deeper than 64/)
    }
    // Nesting inside strings does not count.
    const ok = await api('projects/recent', `{"x":"${'['.repeat(1000)}"}`)
    expect(ok.status).toBe(200)
  })

  it('keeps the 8 MB body limit, answering 400 (declared or streamed)', async () => {
    const declared = await rawRequest(port, rawHttp('POST', '/api/projects/recent', [...auth(), ['Content-Length', String(9 * 1024 * 1024)]], '{}'))
    expect(declared.status).toBe(400)
    expect(json(declared.body).error?.message).toMatch(/8 MB/)
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20)
    const streamed = await rawRequest(port, rawHttp('POST', '/api/projects/recent', [...auth(), ['Transfer-Encoding', 'chunked']], Buffer.concat([Buffer.from(big.length.toString(16) + '\r\n'), big, Buffer.from('\r\n0\r\n\r\n')])), 20_000)
    expect(streamed.timedOut).toBe(false)
    expect(streamed.status).toBe(400)
    expect(json(streamed.body).error?.message).toMatch(/8 MB/)
    await alive()
  })

  it('maps the real services\' user errors to 4xx statuses', async () => {
    const empty = join(ws.dir, 'not-a-project')
    mkdirSync(empty)
    let r = await api('projects/open', { dir: empty })
    expect([r.status, json(r.body).error?.code]).toEqual([404, 'NOT_A_PROJECT'])

    r = await api('projects/create', { name: 'Twice' })
    expect(r.status).toBe(200)
    const dir = (json(r.body).result as { dir: string }).dir
    r = await api('projects/create', { name: 'Twice' })
    expect([r.status, json(r.body).error?.code]).toEqual([409, 'PROJECT_EXISTS'])

    r = await api('training/run', { dir, runId: 'no-such-run' })
    expect([r.status, json(r.body).error?.code]).toEqual([404, 'NOT_FOUND'])

    r = await api('projects/open', { dir: join(ws.dir, 'a\u0000b') })
    expect([r.status, json(r.body).error?.code]).toEqual([400, 'INVALID_INPUT'])
    expect(json(r.body).error?.message).toMatch(/NUL/)
    r = await api('datasets/import', { dir, source: '/tmp/x\u0000y' })
    expect([r.status, json(r.body).error?.code]).toEqual([400, 'INVALID_INPUT'])

    r = await api('projects/open', { dir: join(ws.dir, `${'n'.repeat(300)}`) })
    expect(r.status).toBeGreaterThanOrEqual(400)
    expect(r.status).toBeLessThan(500)

    r = await api('datasets/overview', { dir: '/etc' })
    expect([r.status, json(r.body).error?.code]).toEqual([403, 'FORBIDDEN'])

    const damaged = join(ws.dir, 'damaged')
    mkdirSync(damaged)
    writeFileSync(join(damaged, 'project.json'), '{"name": "x", ')
    r = await api('projects/open', { dir: damaged })
    expect([r.status, json(r.body).error?.code]).toEqual([422, 'PROJECT_DAMAGED'])

    // An example project's errors reach the answer with their hints.
    r = await api('examples/create', { name: 'Ex', example: 'no-such-example' })
    expect([r.status, json(r.body).error?.code]).toEqual([400, 'INVALID_INPUT'])
    expect(json(r.body).error?.hint).toMatch(/^Pick one of fashion-mnist, /)
    const missing = join(ws.dir, 'no-such-data')
    r = await api('examples/create', { name: 'Ex', example: 'fashion-mnist', source: missing })
    expect([r.status, json(r.body).error]).toEqual([
      404,
      { name: 'AppError', code: 'NOT_FOUND', message: `The data source ${missing} does not exist.`, hint: 'Pick the folder (or file) holding the Fashion-MNIST CNN data, or leave the source out to download it.' },
    ])

    r = await api('no/such', {})
    expect(r.status).toBe(400)
    r = await api('cancel/call', 'null')
    expect(r.status).toBeLessThan(500)
    r = await api('projects/recent', '{not json')
    expect([r.status, json(r.body).error?.code]).toEqual([400, 'BAD_REQUEST'])
    for (const body of [r.body]) expect(hasStack(body)).toBe(false)
  })

  it('never lets an unauthenticated request reach the dispatcher', async () => {
    const spy = vi.spyOn(bridge.dispatcher, 'call')
    const reqs = [
      rawHttp('POST', '/api/projects/recent', [['Host', host], ['Connection', 'close'], ['Content-Length', '2']], '{}'),
      rawHttp('POST', '/api/projects/recent', [['Host', host], ['Authorization', 'Bearer wrong'], ['Connection', 'close'], ['Content-Length', '2']], '{}'),
      rawHttp('POST', `/api/projects/recent?token=${TOKEN}`, [['Host', 'evil.example'], ['Connection', 'close'], ['Content-Length', '2']], '{}'),
      rawHttp('POST', `/api/projects/recent?token=${TOKEN}`, [['Host', host], ['Origin', 'http://evil.example'], ['Connection', 'close'], ['Content-Length', '2']], '{}'),
      rawHttp('POST', '/api/projects/recent', [['Host', host], ['Cookie', 'cs_token=nope'], ['Connection', 'close'], ['Content-Length', '2']], '{}'),
    ]
    for (const req of reqs) {
      const r = await rawRequest(port, req)
      expect([401, 403, 421]).toContain(r.status)
      expect(hasStack(r.body)).toBe(false)
    }
    expect(spy).not.toHaveBeenCalled()
  })

  it('answers a genuine internal failure with 500 and no stack, logging the stack on the server only', async () => {
    const failing = { call: async () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")) } as unknown as Dispatcher
    const server = await startWebServer({ dispatcher: failing, staticDir: bridge.staticDir, token: TOKEN })
    const logged: unknown[][] = []
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void logged.push(a))
    try {
      const r = await rawRequest(server.port, rawHttp('POST', '/api/projects/recent', [['Host', `127.0.0.1:${server.port}`], ['Authorization', `Bearer ${TOKEN}`], ['Connection', 'close'], ['Content-Length', '2']], '{}'))
      expect(r.status).toBe(500)
      expect(json(r.body).error?.code).toBe('INTERNAL')
      expect(hasStack(r.body)).toBe(false)
      expect(logged.flat().some((a) => a instanceof Error && /\n\s+at /.test(a.stack ?? ''))).toBe(true)
    } finally {
      await server.close()
    }
  })
})
