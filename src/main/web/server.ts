import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import { Readable, type Duplex } from 'node:stream'
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Events } from '../../shared/contract'
import { AppError, httpStatus, MAX_NESTING, translateError, type ErrorCode } from '../../shared/errors'
import type { CallContext, Dispatcher } from '../services/dispatch'

export interface WebServerOptions {
  dispatcher: Dispatcher
  /** Folder holding the built renderer (index.html + assets). */
  staticDir: string
  port?: number
  /** Fixed token (tests); a random one per start otherwise. */
  token?: string
  /**
   * Extra routes served under /files (thumbnails, an export's zip): null when not found; an
   * AppError other than INTERNAL is answered as the usual JSON error. A stream body is piped;
   * `filename` makes it a download (Content-Disposition: attachment).
   */
  files?: (path: string, query: URLSearchParams) => Promise<{ body: Buffer | Readable; type: string; filename?: string; cache?: string } | null>
  /**
   * Raw-body routes under /upload (POST, behind the same Host/Origin/token checks as the rest):
   * the handler reads the request body itself (bounded) and its result is answered as
   * {result}; a thrown error as the usual JSON error.
   */
  uploads?: (path: string, query: URLSearchParams, req: IncomingMessage) => Promise<unknown>
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

/** Errors a person sees never carry stack frames, however a message was built. */
function clean(message: string): string {
  const text = message
    .split('\n')
    .filter((l) => !/^\s+at\s/.test(l))
    .join('\n')
  return text.length > 4000 ? `${text.slice(0, 4000)}…` : text
}

/** The JSON error every refusal and failure answers with: code, message, hint; never a stack. */
function errorBody(code: ErrorCode, message: string, hint?: string): { error: { name: string; code: ErrorCode; message: string; hint?: string } } {
  return { error: { name: 'AppError', code, message: clean(message), ...(hint ? { hint: clean(hint) } : {}) } }
}

/** A complete raw HTTP response, for sockets the HTTP machinery no longer owns (upgrade, clientError, CONNECT). */
function rawResponse(status: number, code: ErrorCode, message: string, hint?: string): string {
  const text = JSON.stringify(errorBody(code, message, hint))
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
}

/** Writes a last answer on a raw socket, then closes it (at once if it cannot be written, else once flushed). */
function endSocket(socket: Duplex, data: string) {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.end(data)
  socket.once('finish', () => socket.destroy())
  setTimeout(() => socket.destroy(), 5000).unref()
}

/** A request target split without throwing: the path as sent (still percent-encoded) and the query. */
interface Target {
  pathname: string
  query: URLSearchParams
}

/** Null unless the target is origin-form (starts with '/'); URLSearchParams never throws on odd input. */
function parseTarget(raw: string | undefined): Target | null {
  const s = raw ?? '/'
  if (!s.startsWith('/')) return null
  const q = s.indexOf('?')
  return q < 0 ? { pathname: s, query: new URLSearchParams() } : { pathname: s.slice(0, q), query: new URLSearchParams(s.slice(q + 1)) }
}

function decodePath(pathname: string): string | null {
  try {
    return decodeURIComponent(pathname)
  } catch {
    return null
  }
}

/** A caller-given path, shortened, for a message. */
function shown(s: string): string {
  return s.length > 120 ? `${s.slice(0, 100)}… (${s.length} characters)` : s
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function cookieToken(req: IncomingMessage): string | undefined {
  const m = /(?:^|;\s*)cs_token=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')
  return m?.[1]
}

/**
 * How deep a JSON text nests (objects and arrays; brackets inside strings do not count),
 * scanned without recursion and stopped as soon as it passes `limit`, so a hostile body
 * cannot overflow a stack in the parser or in anything that walks the parsed value.
 */
export function jsonDepth(text: string, limit = Infinity): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 91 || c === 123) {
      depth++
      if (depth > max && (max = depth) > limit) return max
    } else if (c === 93 || c === 125) depth--
  }
  return max
}

const tooLarge = () => new AppError('BAD_REQUEST', 'Request body is larger than 8 MB.', 'Send file paths, not file contents.')

function parseBody(buf: Buffer): unknown {
  if (buf.length === 0) return {}
  const text = buf.toString('utf8')
  if (jsonDepth(text, MAX_NESTING) > MAX_NESTING)
    throw new AppError('BAD_REQUEST', `Request body is JSON nested deeper than ${MAX_NESTING} levels.`, `Send flatter arguments: at most ${MAX_NESTING} levels of nested objects or arrays.`)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new AppError('BAD_REQUEST', `Request body is not valid JSON (${(err as Error).message}).`, 'Send a JSON object of arguments.')
  }
}

/** Reads a JSON body of at most MAX_BODY bytes; never destroys the request, so the refusal can still be answered. */
function readBody(req: IncomingMessage): Promise<unknown> {
  if (Number(req.headers['content-length']) > MAX_BODY) return Promise.reject(tooLarge())
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (f: () => void) => {
      if (done) return
      done = true
      f()
    }
    req.on('data', (chunk: Buffer) => {
      if (done) return // past the limit: drained and dropped
      size += chunk.length
      if (size <= MAX_BODY) chunks.push(chunk)
      else {
        chunks.length = 0
        finish(() => reject(tooLarge()))
      }
    })
    req.on('end', () =>
      finish(() => {
        try {
          resolve(parseBody(Buffer.concat(chunks)))
        } catch (err) {
          reject(err)
        }
      }),
    )
    req.on('error', (err) => finish(() => reject(new AppError('BAD_REQUEST', `The request body could not be read (${err.message}).`, 'Send the request again.'))))
    req.on('close', () => finish(() => reject(new AppError('CANCELLED', 'The request was closed before its body arrived.'))))
  })
}

/** What a started server's handlers share: its options, token, open event sockets and calls in flight. */
interface Bridge {
  opts: WebServerOptions
  token: string
  sockets: Set<WebSocket>
  calls: Map<string, AbortController>
  /** Known once the server listens. */
  port: number
}

const allowedHosts = (b: Bridge) => [`127.0.0.1:${b.port}`, `localhost:${b.port}`]

function broadcast<E extends keyof Events>(b: Bridge, event: E, payload: Events[E]) {
  const msg = JSON.stringify({ event, payload })
  for (const ws of b.sockets) if (ws.readyState === ws.OPEN) ws.send(msg)
}

/**
 * The web bridge: the built renderer plus the contract over HTTP (calls) and WebSocket
 * (events), on 127.0.0.1 only. Every request needs the per-start token (URL once, then an
 * HttpOnly cookie); Host and Origin must be the server's own (DNS-rebinding defence).
 */
export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const b: Bridge = { opts, token: opts.token ?? randomBytes(24).toString('base64url'), sockets: new Set(), calls: new Map(), port: 0 }
  const server = createServer((req, res) => {
    handle(b, req, res).catch((err) => fail(req, res, err))
  })
  // Slow or endless requests are cut off rather than held forever.
  server.headersTimeout = 20_000
  server.requestTimeout = 120_000
  // Malformed HTTP (bad request line, oversized headers, conflicting lengths): a JSON 4xx, then close.
  server.on('clientError', onClientError)
  // CONNECT (proxy tunnels) is not something this server does.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    endSocket(socket, rawResponse(405, 'BAD_REQUEST', 'CONNECT is not supported.', 'This is the Classifier Studio web bridge, not a proxy.'))
  })
  // Clients never send messages; a bad frame closes that socket only (ws reports it as an error event).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => onUpgrade(b, wss, req, socket, head))
  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', rej)
      res()
    })
  })
  // After listening, a server-level error (e.g. too many open files on accept) is logged, never fatal.
  server.on('error', (err) => console.error('Classifier Studio web bridge:', err))
  b.port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${b.port}/?token=${b.token}`,
    port: b.port,
    token: b.token,
    broadcast: (event, payload) => broadcast(b, event, payload),
    close: async () => {
      for (const ws of b.sockets) ws.terminate()
      for (const ac of b.calls.values()) ac.abort()
      wss.close()
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}

/**
 * Checks Host, Origin and token, before anything else is looked at; returns the refusal
 * (status and reason) or null when the request may pass. Reads headers only: cannot throw.
 */
function refuse(b: Bridge, req: IncomingMessage, target: Target | null): { status: number; message: string; hint: string } | null {
  const host = req.headers.host
  const origin = req.headers.origin
  const page = 'Requests must come from the studio page itself (Host/Origin check).'
  const open = 'Open the exact URL printed by `classifier-studio serve`.'
  if (typeof host !== 'string' || !allowedHosts(b).includes(host)) return { status: 421, message: `${page} The Host header is not this server's.`, hint: open }
  if (origin !== undefined && !allowedHosts(b).some((h) => origin === `http://${h}`)) return { status: 403, message: `${page} The Origin header is not this server's.`, hint: open }
  const given = target?.query.get('token') ?? cookieToken(req) ?? /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
  if (!given || !same(given, b.token)) return { status: 401, message: 'Missing or wrong token.', hint: open }
  return null
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': String(Buffer.byteLength(text)), ...headers })
  res.end(text)
}

/**
 * Answers a failed request with the status its error code maps to (httpStatus: one place).
 * 5xx are failures of the app, logged here with their stack; no answer ever carries a stack.
 */
function fail(req: IncomingMessage, res: ServerResponse, err: unknown) {
  try {
    const e = translateError(err)
    const status = httpStatus(e.code)
    if (status >= 500) console.error(`Classifier Studio web bridge: ${req.method} ${shown((req.url ?? '').split('?')[0])} failed (${e.code}):`, err) // no query: it may hold the token
    const hint = e.hint ?? (e.code === 'INTERNAL' ? 'This is a failure inside Classifier Studio; the server log (the terminal running `classifier-studio serve`) has the details.' : undefined)
    send(res, status, errorBody(e.code, e.message, hint))
  } catch (again) {
    console.error('Classifier Studio web bridge: could not answer a failed request:', again)
    res.destroy()
  }
}

async function handle(b: Bridge, req: IncomingMessage, res: ServerResponse) {
  const target = parseTarget(req.url)
  // Nothing but this check runs for a request without the right Host, Origin and token.
  const refusal = refuse(b, req, target)
  if (refusal !== null) return send(res, refusal.status, errorBody('FORBIDDEN', refusal.message, refusal.hint))
  if (target === null) throw new AppError('BAD_REQUEST', `The request target ${JSON.stringify(shown(req.url ?? ''))} is not a path.`, 'Request a path that starts with "/".')
  const { pathname, query } = target
  if (pathname === '/api' || pathname.startsWith('/api/')) return apiCall(b, req, res, pathname)
  if (pathname.startsWith('/upload/') && b.opts.uploads) return upload(b.opts.uploads, req, res, pathname, query)
  if (pathname.startsWith('/files/') && b.opts.files) return serveFile(b.opts.files, res, pathname, query)
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, errorBody('BAD_REQUEST', `Method ${shown(req.method ?? '')} is not allowed here.`, 'The studio UI is read with GET.'), { allow: 'GET, HEAD' })
  const decoded = decodePath(pathname)
  if (decoded === null || decoded.includes('\0'))
    throw new AppError('BAD_REQUEST', `The URL path ${JSON.stringify(shown(pathname))} is not valid percent-encoding${decoded === null ? '' : ' (it holds a NUL byte)'}.`, 'Check the address: every % must start a valid %XX escape of UTF-8 text.')
  await serveStatic(b, res, decoded, query.has('token'))
}

/** POST /api/<domain>/<method>: a call through the dispatcher (cancellable, with progress as events); /api/cancel cancels one. */
async function apiCall(b: Bridge, req: IncomingMessage, res: ServerResponse, pathname: string) {
  if (req.method !== 'POST') return send(res, 405, errorBody('BAD_REQUEST', `Use POST for API calls, not ${shown(req.method ?? '')}.`, 'Send POST /api/<domain>/<method> with a JSON body.'), { allow: 'POST' })
  const parts = pathname.split('/')
  const [, , domain = '', name = ''] = parts
  if (parts.length > 4) throw new AppError('BAD_REQUEST', `No API method at ${shown(pathname)}.`, 'API calls are POST /api/<domain>/<method>.')
  const args = await readBody(req)
  if (domain === 'cancel') {
    const callId = typeof args === 'object' && args !== null ? (args as { callId?: unknown }).callId : undefined
    if (typeof callId === 'string') b.calls.get(callId)?.abort()
    return send(res, 200, { result: null })
  }
  const callId = req.headers['x-call-id']?.toString() ?? randomUUID()
  const ac = new AbortController()
  b.calls.set(callId, ac)
  req.on('close', () => {
    if (!res.writableFinished) ac.abort()
  })
  const ctx: CallContext = {
    signal: ac.signal,
    onProgress: (progress) => broadcast(b, 'progress', { callId, progress }),
    emit: (event, payload) => broadcast(b, event, payload),
  }
  try {
    const result = await b.opts.dispatcher.call(domain, name, args, ctx)
    return send(res, 200, { result: result ?? null })
  } finally {
    if (b.calls.get(callId) === ac) b.calls.delete(callId)
  }
}

/** POST /upload/<step>: the handler reads the body itself. */
async function upload(uploads: NonNullable<WebServerOptions['uploads']>, req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams) {
  if (req.method !== 'POST') return send(res, 405, errorBody('BAD_REQUEST', `Use POST for uploads, not ${shown(req.method ?? '')}.`, 'Send POST /upload/<step> with the file as the body.'), { allow: 'POST' })
  try {
    const result = await uploads(pathname.slice('/upload/'.length), query, req)
    return send(res, 200, { result: result ?? null })
  } catch (err) {
    req.resume() // a refused body is drained, so the refusal reaches the sender
    throw err
  }
}

/** /files/<path>: a buffer, or a stream whose first failure is still a JSON error. */
async function serveFile(files: NonNullable<WebServerOptions['files']>, res: ServerResponse, pathname: string, query: URLSearchParams) {
  const file = await files(pathname.slice('/files/'.length), query).catch((err: unknown) => {
    if (err instanceof AppError && err.code !== 'INTERNAL') throw err
    return null
  })
  if (!file) return send(res, 404, errorBody('NOT_FOUND', 'No such file.'))
  const headers: Record<string, string> = { 'content-type': file.type, 'cache-control': file.cache ?? 'max-age=600', 'x-content-type-options': 'nosniff' }
  if (file.filename) headers['content-disposition'] = `attachment; filename="${file.filename.replace(/[^\w.-]+/g, '_')}"; filename*=UTF-8''${encodeURIComponent(file.filename)}`
  if (!(file.body instanceof Readable)) {
    res.writeHead(200, headers)
    return res.end(file.body)
  }
  // A stream: its first failure (before any byte) is a JSON error; a later one cuts the download short.
  const body = file.body
  const first = await new Promise<Buffer | null>((resolve, reject) => {
    body.once('error', reject)
    body.once('end', () => resolve(null))
    body.once('readable', () => resolve((body.read() as Buffer | null) ?? null))
  })
  res.writeHead(200, headers)
  if (first) res.write(first)
  body.removeAllListeners('error')
  body.on('error', (err) => {
    console.error('Classifier Studio web bridge: a download failed:', err)
    res.destroy()
  })
  return body.pipe(res)
}

async function serveStatic(b: Bridge, res: ServerResponse, decoded: string, setCookie: boolean) {
  const rel = normalize(decoded).replace(/^([/\\])+/, '')
  let file = join(b.opts.staticDir, rel || 'index.html')
  if (!file.startsWith(b.opts.staticDir + sep) && file !== b.opts.staticDir) return send(res, 403, errorBody('FORBIDDEN', 'That path is outside the studio UI.'))
  const st = await stat(file).catch(() => null)
  if (!st?.isFile()) file = join(b.opts.staticDir, 'index.html') // single-page app fallback
  const body = await readFile(file).catch(() => null)
  if (!body) {
    console.error(`Classifier Studio web bridge: ${join(b.opts.staticDir, 'index.html')} is missing.`)
    return send(res, 500, errorBody('INTERNAL', `The studio UI is not built: ${join(b.opts.staticDir, 'index.html')} is missing.`, 'Run npm run build:web, then start the studio again.'))
  }
  const headers: Record<string, string> = {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': extname(file) === '.html' ? 'no-store' : 'max-age=3600',
  }
  if (setCookie) headers['set-cookie'] = `cs_token=${b.token}; HttpOnly; SameSite=Strict; Path=/`
  res.writeHead(200, headers)
  res.end(body)
}

function onClientError(err: NodeJS.ErrnoException, socket: Duplex) {
  const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy()
    return
  }
  const [status, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'The request headers are too large.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'The request took too long to arrive.']
        : [400, 'The request is not valid HTTP.']
  endSocket(socket, rawResponse(status, 'BAD_REQUEST', message, 'Send a well-formed HTTP/1.1 request.'))
}

function refuseUpgrade(socket: Duplex, status: number, message: string, hint?: string) {
  endSocket(socket, rawResponse(status, status === 400 ? 'BAD_REQUEST' : status === 404 ? 'NOT_FOUND' : 'FORBIDDEN', message, hint))
}

/** WebSocket upgrades: only /events, with the same checks as every request and an Origin. */
function onUpgrade(b: Bridge, wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer) {
  socket.on('error', () => socket.destroy())
  try {
    const target = parseTarget(req.url)
    const refusal = refuse(b, req, target)
    if (refusal !== null) return refuseUpgrade(socket, 403, refusal.message, refusal.hint)
    if (target === null) return refuseUpgrade(socket, 400, 'The request target is not a path.')
    if (target.pathname !== '/events') return refuseUpgrade(socket, 404, `No WebSocket at ${shown(target.pathname)}.`, 'Events are at /events.')
    if (req.headers.origin === undefined) return refuseUpgrade(socket, 403, 'WebSocket requests must carry the Origin of the studio page.')
    wss.handleUpgrade(req, socket, head, (ws) => {
      b.sockets.add(ws)
      ws.on('error', () => ws.terminate())
      ws.on('close', () => b.sockets.delete(ws))
    })
  } catch (err) {
    console.error('Classifier Studio web bridge: a WebSocket upgrade failed:', err)
    refuseUpgrade(socket, 400, 'The WebSocket request could not be handled.')
  }
}
