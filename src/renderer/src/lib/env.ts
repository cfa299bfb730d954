/**
 * The few browser globals the stores and bridge use, reached through globalThis so these
 * modules also typecheck (and run under a fake) in Node-side unit tests.
 */
interface KeyValueStore {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

const g = globalThis as {
  sessionStorage?: KeyValueStore
  location?: { origin: string; search: string; hash: string }
  history?: { replaceState(data: unknown, unused: string, url?: string): void; pushState(data: unknown, unused: string, url?: string): void }
  addEventListener?: (type: string, listener: () => void) => void
}

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

/** The page's hash route ('#/train' → 'train'); '' outside a browser. */
export function pageRoute(): string {
  return (g.location?.hash ?? '').replace(/^#\/?/, '')
}

/** Puts a route in the address bar (a history entry, so Back works) without reloading. */
export function setPageRoute(route: string, replace = false): void {
  if (!g.location || !g.history) return
  const hash = `#/${route}`
  if (g.location.hash === hash) return
  if (replace) g.history.replaceState(null, '', hash)
  else g.history.pushState(null, '', hash)
}

/** Calls `listener` when the user changes the hash (Back/Forward, a typed URL). */
export function onPageRoute(listener: () => void): void {
  g.addEventListener?.('hashchange', listener)
  g.addEventListener?.('popstate', listener)
}
