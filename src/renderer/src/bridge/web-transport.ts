import type { EventName } from '../../../shared/contract'
import type { Transport } from '../../../shared/client'
import { pageOrigin } from '../lib/env'

/**
 * The browser transport of the web studio: calls are POSTs to /api/<domain>/<method>, events
 * arrive on one WebSocket. The access token travels in an HttpOnly cookie set on page load.
 */
export function webTransport(base = pageOrigin()): Transport {
  const listeners = new Set<(event: EventName, payload: unknown) => void>()
  let socket: WebSocket | null = null
  let retry = 500

  function connect() {
    socket = new WebSocket(base.replace(/^http/, 'ws') + '/events')
    socket.onmessage = (m) => {
      const { event, payload } = JSON.parse(String(m.data)) as { event: EventName; payload: unknown }
      for (const l of listeners) l(event, payload)
    }
    socket.onopen = () => (retry = 500)
    socket.onclose = () => {
      setTimeout(connect, retry)
      retry = Math.min(retry * 2, 10_000)
    }
  }
  connect()

  return {
    async invoke(domain, name, args, callId) {
      const res = await fetch(`${base}/api/${domain}/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-call-id': callId },
        body: JSON.stringify(args),
        credentials: 'same-origin',
      })
      const body = (await res.json().catch(() => ({}))) as { result?: unknown; error?: { code: string; message: string; hint?: string } }
      if (body.error) return { ok: false, error: { name: 'AppError', code: body.error.code as never, message: body.error.message, hint: body.error.hint } }
      return { ok: true, result: body.result }
    },
    async cancel(callId) {
      await fetch(`${base}/api/cancel/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ callId }) })
    },
    on(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}
