import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Events } from '../../shared/contract'
import { AppError, serializeError } from '../../shared/errors'
import type { CallContext, Dispatcher } from '../services/dispatch'

export interface WebServerOptions {
  dispatcher: Dispatcher
  /** Folder holding the built renderer (index.html + assets). */
  staticDir: string
  port?: number
  /** Fixed token (tests); a random one per start otherwise. */
  token?: string
  /** Extra routes served under /files (thumbnails etc.): returns null when not found. */
  files?: (path: string, query: URLSearchParams) => Promise<{ body: Buffer; type: string } | null>
}

export interface WebServer {
  url: string
  port: number
  token: string
  broadcast<E extends keyof Events>(event: E, payload: Events[E]): void
  close(): Promise<void>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

const MAX_BODY = 8 * 1024 * 1024

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cookieToken(req: IncomingMessage): string | undefined {
  const m = /(?:^|;\s*)cs_token=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')
  return m?.[1]
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new AppError('BAD_REQUEST', 'Request body is larger than 8 MB.', 'Send file paths, not file contents.')
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return {}
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    throw new AppError('BAD_REQUEST', 'Request body is not valid JSON.', 'Send a JSON object of arguments.')
  }
}

/**
 * The web bridge: the built renderer plus the contract over HTTP (calls) and WebSocket
 * (events), on 127.0.0.1 only. Every request needs the per-start token (URL once, then an
 * HttpOnly cookie); Host and Origin must be the server's own (DNS-rebinding defence).
 */
export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url')
  const sockets = new Set<WebSocket>()
  const calls = new Map<string, AbortController>()
  let port = 0

  const allowedHosts = () => [`127.0.0.1:${port}`, `localhost:${port}`]
  const broadcast = <E extends keyof Events>(event: E, payload: Events[E]) => {
    const msg = JSON.stringify({ event, payload })
    for (const ws of sockets) if (ws.readyState === ws.OPEN) ws.send(msg)
  }

  /** Checks Host, Origin and token; returns an error status or null when the request may pass. */
  function refuse(req: IncomingMessage, url: URL): number | null {
    if (!allowedHosts().includes(req.headers.host ?? '')) return 421
    const origin = req.headers.origin
    if (origin !== undefined && !allowedHosts().some((h) => origin === `http://${h}`)) return 403
    const given = url.searchParams.get('token') ?? cookieToken(req) ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!given || !same(given, token)) return 401
    return null
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
    res.end(JSON.stringify(body))
  }

  async function serveStatic(res: ServerResponse, pathname: string, setCookie: boolean) {
    const rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '')
    let file = join(opts.staticDir, rel || 'index.html')
    if (!file.startsWith(opts.staticDir + sep) && file !== opts.staticDir) return send(res, 403, { error: 'Forbidden' })
    const st = await stat(file).catch(() => null)
    if (!st?.isFile()) file = join(opts.staticDir, 'index.html') // single-page app fallback
    const body = await readFile(file).catch(() => null)
    if (!body) return send(res, 500, { error: `The studio UI is not built: ${join(opts.staticDir, 'index.html')} is missing. Run npm run build:web.` })
    const headers: Record<string, string> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': extname(file) === '.html' ? 'no-store' : 'max-age=3600',
    }
    if (setCookie) headers['set-cookie'] = `cs_token=${token}; HttpOnly; SameSite=Strict; Path=/`
    res.writeHead(200, headers)
    res.end(body)
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`)
    const status = refuse(req, url)
    if (status !== null) {
      const reason = status === 401 ? 'Missing or wrong token: open the exact URL printed by `classifier-studio serve`.' : 'Requests must come from the studio page itself (Host/Origin check).'
      return send(res, status, { error: { code: 'FORBIDDEN', message: reason } })
    }
    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') return send(res, 405, { error: { code: 'BAD_REQUEST', message: 'Use POST for API calls.' } }, { allow: 'POST' })
      const [, , domain, name] = url.pathname.split('/')
      const callId = req.headers['x-call-id']?.toString() ?? randomUUID()
      try {
        const args = await readBody(req)
        if (domain === 'cancel') {
          calls.get(String((args as { callId?: unknown }).callId))?.abort()
          return send(res, 200, { result: null })
        }
        const ac = new AbortController()
        calls.set(callId, ac)
        req.on('close', () => {
          if (!res.writableFinished) ac.abort()
        })
        const ctx: CallContext = {
          signal: ac.signal,
          onProgress: (progress) => broadcast('progress', { callId, progress }),
          emit: broadcast,
        }
        try {
          const result = await opts.dispatcher.call(domain, name, args, ctx)
          send(res, 200, { result: result ?? null })
        } finally {
          calls.delete(callId)
        }
      } catch (err) {
        const e = serializeError(err)
        delete e.stack
        send(res, e.code === 'BAD_REQUEST' ? 400 : e.code === 'FORBIDDEN' ? 403 : 500, { error: e })
      }
      return
    }
    if (url.pathname.startsWith('/files/') && opts.files) {
      const file = await opts.files(url.pathname.slice('/files/'.length), url.searchParams).catch(() => null)
      if (!file) return send(res, 404, { error: { code: 'NOT_FOUND', message: 'No such file.' } })
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'max-age=600', 'x-content-type-options': 'nosniff' })
      return res.end(file.body)
    }
    if (req.method !== 'GET') return send(res, 405, { error: { code: 'BAD_REQUEST', message: 'Method not allowed.' } })
    await serveStatic(res, url.pathname, url.searchParams.has('token'))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => send(res, 500, { error: serializeError(err) }))
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`)
    if (url.pathname !== '/events' || refuse(req, url) !== null || req.headers.origin === undefined) {
      socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n')
      socket.destroy()
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws)
      ws.on('close', () => sockets.delete(ws))
    })
  })
  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(opts.port ?? 0, '127.0.0.1', () => res())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    broadcast,
    close: async () => {
      for (const ws of sockets) ws.terminate()
      for (const ac of calls.values()) ac.abort()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
