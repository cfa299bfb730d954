import type { Api, CallOptions, EventName, Events } from './contract'
import { domains, methodNames } from './contract'
import { deserializeError, type SerializedError } from './errors'

/** The few primitives a transport (Electron IPC, HTTP + WebSocket) must provide. */
export interface Transport {
  invoke(domain: string, name: string, args: unknown, callId: string): Promise<{ ok: true; result: unknown } | { ok: false; error: SerializedError }>
  cancel(callId: string): Promise<void>
  on(listener: (event: EventName, payload: unknown) => void): () => void
}

let counter = 0
export function newCallId(): string {
  counter += 1
  return `${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 8)}`
}

/** Derives the typed Api from the contract over any transport. */
export function createApi(transport: Transport): Api {
  const api: Record<string, unknown> = {}
  for (const domain of domains()) {
    const methods: Record<string, unknown> = {}
    for (const name of methodNames(domain)) {
      methods[name] = async (args: unknown, opts: CallOptions = {}) => {
        const callId = opts.callId ?? newCallId()
        const off = opts.onProgress
          ? transport.on((event, payload) => {
              const p = payload as Events['progress']
              if (event === 'progress' && p.callId === callId) opts.onProgress?.(p.progress)
            })
          : undefined
        try {
          const reply = await transport.invoke(domain, name, args ?? {}, callId)
          if (!reply.ok) throw deserializeError(reply.error)
          return reply.result
        } finally {
          off?.()
        }
      }
    }
    api[domain] = methods
  }
  api.on = <E extends EventName>(event: E, listener: (payload: Events[E]) => void) =>
    transport.on((e, payload) => {
      if (e === event) listener(payload as Events[E])
    })
  api.cancel = (callId: string) => transport.cancel(callId)
  return api as Api
}
