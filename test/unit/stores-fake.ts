import { createPinia, setActivePinia } from 'pinia'
import type { Api, CallOptions, EventName, Events } from '../../src/shared/contract'
import { AppError, type ErrorCode } from '../../src/shared/errors'
import { setApi } from '../../src/renderer/src/bridge'
import { useProjectsStore } from '../../src/renderer/src/stores/projects'

type Mock = (args: any, opts?: CallOptions) => unknown

export interface FakeBridge {
  api: Api
  calls: { method: string; args: unknown; opts?: CallOptions }[]
  cancelled: string[]
  emit<E extends EventName>(event: E, payload: Events[E]): void
  listeners(event: EventName): number
}

/**
 * A fake bridge: only the methods given in `mocks` ('domain.method') answer; any other call
 * rejects, so a store calling something the test did not expect fails the test.
 */
export function fakeBridge(mocks: Record<string, Mock> = {}): FakeBridge {
  const calls: FakeBridge['calls'] = []
  const cancelled: string[] = []
  const subs = new Map<string, Set<(p: unknown) => void>>()
  const domain = (d: string) =>
    new Proxy({}, {
      get(_t, name) {
        if (typeof name !== 'string') return undefined
        return async (args: unknown, opts?: CallOptions) => {
          const key = `${d}.${name}`
          calls.push({ method: key, args, opts })
          const m = mocks[key]
          if (!m) throw new Error(`Unmocked bridge call ${key}(${JSON.stringify(args)})`)
          return m(args, opts)
        }
      },
    })
  const api = new Proxy({} as Api, {
    get(_t, prop) {
      if (prop === 'on')
        return (event: string, l: (p: unknown) => void) => {
          const set = subs.get(event) ?? new Set()
          set.add(l)
          subs.set(event, set)
          return () => set.delete(l)
        }
      if (prop === 'cancel')
        return async (id: string) => {
          cancelled.push(id)
        }
      if (typeof prop !== 'string' || prop === 'then') return undefined
      return domain(prop)
    },
  })
  return {
    api,
    calls,
    cancelled,
    emit: (event, payload) => subs.get(event)?.forEach((l) => l(payload)),
    listeners: (event) => subs.get(event)?.size ?? 0,
  }
}

export function appError(code: ErrorCode, message: string, hint?: string): AppError {
  return new AppError(code, message, hint)
}

class MemoryStorage {
  private m = new Map<string, string>()
  getItem(k: string) { return this.m.get(k) ?? null }
  setItem(k: string, v: string) { this.m.set(k, String(v)) }
  removeItem(k: string) { this.m.delete(k) }
  clear() { this.m.clear() }
}

/** A fresh Pinia + fake bridge; `project` pre-opens a project in the projects store. */
export function setup(mocks: Record<string, Mock> = {}, project?: { dir: string; name?: string; state?: Record<string, unknown> }): FakeBridge {
  ;(globalThis as { sessionStorage?: unknown }).sessionStorage = new MemoryStorage()
  setActivePinia(createPinia())
  const fake = fakeBridge(mocks)
  setApi(fake.api)
  if (project) {
    const projects = useProjectsStore()
    projects.current = {
      dir: project.dir,
      name: project.name ?? 'p',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      settings: { inputSize: 96, resizeMode: 'squash', background: '#ffffff', channels: 3 },
      state: project.state ?? {},
    }
  }
  return fake
}

/** Lets watchers and pending promises settle. */
export const tick = () => new Promise((r) => setTimeout(r, 0))
