/**
 * The few browser globals the stores and bridge use, reached through globalThis so these
 * modules also typecheck (and run under a fake) in Node-side unit tests.
 */
interface KeyValueStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

const g = globalThis as { sessionStorage?: KeyValueStore; location?: { origin: string; search: string } }

const memory = new Map<string, string>()
const fallback: KeyValueStore = { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => void memory.set(k, v) }

export function session(): KeyValueStore {
  return g.sessionStorage ?? fallback
}

export function pageOrigin(): string {
  return g.location?.origin ?? 'http://127.0.0.1'
}

export function pageSearch(): string {
  return g.location?.search ?? ''
}
