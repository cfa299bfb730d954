import { connect } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Dispatcher } from '../../src/main/services/dispatch'
import { createHandlers } from '../../src/main/services/handlers'
import { startWebServer, type WebServer } from '../../src/main/web/server'

/** What came back for one raw request. */
export interface RawReply {
  /** The HTTP status, or null when the connection closed (or timed out) without a status line. */
  status: number | null
  headers: Record<string, string>
  body: string
  /** True when no complete answer came within the timeout. */
  timedOut: boolean
  /** A socket error seen before a complete answer (ECONNRESET...), if any. */
  error?: string
}

function parseHead(head: string): { status: number | null; headers: Record<string, string> } {
  const lines = head.split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
  const headers: Record<string, string> = {}
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':')
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  return { status: m ? Number(m[1]) : null, headers }
}

/** Decodes a chunked body; null while it is incomplete. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', at)
    if (eol < 0) return null
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16)
    if (!Number.isFinite(size)) return null
    if (size === 0) return buf.indexOf('\r\n', eol + 2) >= 0 ? Buffer.concat(parts) : null
    if (buf.length < eol + 2 + size + 2) return null
    parts.push(buf.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

/**
 * Sends raw bytes to 127.0.0.1:port and reads one HTTP answer (Content-Length, chunked, or up
 * to the close; a 101 ends at its head). Never rejects: a timeout or a socket error is reported.
 */
export function rawRequest(port: number, data: Buffer | string, timeoutMs = 5000, opts: { head?: boolean; halfClose?: boolean } = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buf: Buffer = Buffer.alloc(0)
    let settled = false
    let error: string | undefined
    const finish = (timedOut: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const sep = buf.indexOf('\r\n\r\n')
      const head = parseHead(sep >= 0 ? buf.subarray(0, sep).toString('latin1') : buf.toString('latin1'))
      let body: Buffer = sep >= 0 ? buf.subarray(sep + 4) : Buffer.alloc(0)
      if (head.headers['transfer-encoding'] === 'chunked') body = dechunk(body) ?? body
      resolve({ status: sep >= 0 ? head.status : null, headers: head.headers, body: body.toString('utf8'), timedOut, error })
    }
    const complete = (): boolean => {
      // Interim answers (100 Continue) come before the real one: drop them.
      for (;;) {
        const sep = buf.indexOf('\r\n\r\n')
        if (sep < 0 || !/^HTTP\/1\.[01] 1(?!01)\d\d/.test(buf.subarray(0, 12).toString('latin1'))) break
        buf = buf.subarray(sep + 4)
      }
      const sep = buf.indexOf('\r\n\r\n')
      if (sep < 0) return false
      const { status, headers } = parseHead(buf.subarray(0, sep).toString('latin1'))
      if (status === 101 || opts.head) return true
      const rest = buf.subarray(sep + 4)
      if (headers['content-length'] !== undefined) return rest.length >= Number(headers['content-length'])
      if (headers['transfer-encoding'] === 'chunked') return dechunk(rest) !== null
      return false
    }
    const timer = setTimeout(() => finish(true), timeoutMs)
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (complete()) finish(false)
    })
    socket.on('error', (e) => {
      error = (e as NodeJS.ErrnoException).code ?? e.message
    })
    socket.on('close', () => finish(false))
    socket.on('connect', () => {
      if (opts.halfClose) socket.end(data)
      else socket.write(data, () => undefined)
    })
  })
}

/** A request's bytes: request line, headers (in order, as given), blank line, body. */
export function rawHttp(method: string, target: string, headers: [string, string][], body: Buffer | string = ''): Buffer {
  const head = `${method} ${target} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body])
}

/** True when a response body carries a JavaScript stack trace. */
export function hasStack(body: string): boolean {
  return /\n\s+at .+[(:]/.test(body) || /\\n\s+at /.test(body) || /"stack"\s*:/.test(body)
}

export interface Bridge {
  server: WebServer
  dispatcher: Dispatcher
  host: string
  staticDir: string
  workspace: string
}

/**
 * The web bridge on loopback with the real dispatcher and handlers (the studio minus the ML
 * backend start-up and the built UI): a temp static folder holding a stub index.html.
 */
export async function startBridge(workspace: string, token: string): Promise<Bridge> {
  const staticDir = mkdtempSync(join(tmpdir(), 'cs-static-'))
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>stub</title>')
  const dispatcher = new Dispatcher(createHandlers({ shell: 'web', workspaceDir: workspace }))
  const server = await startWebServer({ dispatcher, staticDir, token })
  return { server, dispatcher, host: `127.0.0.1:${server.port}`, staticDir, workspace }
}
