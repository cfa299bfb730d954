import { z } from 'zod'
import { ProjectSettings } from './project'

/**
 * The one API contract. Every domain is a set of methods, each an input schema plus its
 * result type. ipc.ts (Electron), the web bridge (HTTP + WebSocket) and the preload all
 * derive from this object: adding a method = one entry here + one service function.
 */
export interface Method<I extends z.ZodType, O> {
  input: I
  /** Type-only marker for the result. */
  output?: O
  /** True when the method reports progress and can be cancelled. */
  long?: boolean
}

const method =
  <O>() =>
  <I extends z.ZodType>(input: I, opts: { long?: boolean } = {}): Method<I, O> => ({ input, ...opts })

/** A folder name for a new project: no separators, no '..', nothing a file system rejects. */
export const ProjectName = z
  .string()
  .trim()
  .min(1, 'A project needs a name.')
  .max(120, 'Keep project names under 120 characters.')
  .refine((n) => !/[/\\:*?"<>|\u0000-\u001f]/.test(n) && n !== '.' && n !== '..' && !n.startsWith('.'), {
    message: 'Use a plain folder name: no slashes, colons, wildcards, control characters, or leading dot.',
  })

const Dir = z.string().min(1, 'A folder path is required.')

export interface ProjectInfo {
  dir: string
  name: string
  createdAt: string
  updatedAt: string
  settings: ProjectSettings
  state: Record<string, unknown>
}

export interface RecentProject {
  dir: string
  name: string
  openedAt: string
  /** False when the folder is gone or no longer holds a project (kept until the user removes it). */
  available: boolean
}

export interface AppInfo {
  version: string
  dataDir: string
  /** Where the web studio creates new projects. */
  workspaceDir: string
  shell: 'electron' | 'web'
}

export const contract = {
  app: {
    info: method<AppInfo>()(z.object({})),
  },
  projects: {
    create: method<ProjectInfo>()(z.object({ parent: Dir.optional(), name: ProjectName })),
    open: method<ProjectInfo>()(z.object({ dir: Dir })),
    close: method<void>()(z.object({ dir: Dir })),
    recent: method<RecentProject[]>()(z.object({})),
    rename: method<ProjectInfo>()(z.object({ dir: Dir, name: z.string().trim().min(1).max(200) })),
    forget: method<RecentProject[]>()(z.object({ dir: Dir })),
    saveState: method<ProjectInfo>()(z.object({ dir: Dir, key: z.string().min(1).max(64), value: z.unknown() })),
  },
} as const

export type Contract = typeof contract
export type Domain = keyof Contract
export type MethodName<D extends Domain> = keyof Contract[D] & string
type MethodOf<D extends Domain, M extends MethodName<D>> = Contract[D][M]
export type Input<D extends Domain, M extends MethodName<D>> =
  MethodOf<D, M> extends Method<infer I, unknown> ? z.input<I> : never
export type Output<D extends Domain, M extends MethodName<D>> =
  MethodOf<D, M> extends Method<z.ZodType, infer O> ? O : never

/** Options a caller passes with a long call. `callId` lets it cancel the call with api.cancel. */
export interface CallOptions {
  onProgress?: (progress: Progress) => void
  callId?: string
}

export interface Progress {
  phase: string
  done: number
  total: number
  /** Items per second, when known. */
  rate?: number
  etaSeconds?: number
  message?: string
}

/** The typed API the renderer sees (window.api in Electron, the web client in a browser). */
export type Api = {
  [D in Domain]: {
    [M in MethodName<D>]: (args: Input<D, M>, opts?: CallOptions) => Promise<Output<D, M>>
  }
} & {
  /** Subscribe to a broadcast event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void
  /** Asks a long call started with this callId to stop; it then rejects with code CANCELLED. */
  cancel(callId: string): Promise<void>
}

/** Events broadcast to every window / browser tab (e.g. training progress). */
export interface Events {
  progress: { callId: string; progress: Progress }
  training: { dir: string; event: unknown }
}
export type EventName = keyof Events

export function domains(): Domain[] {
  return Object.keys(contract) as Domain[]
}

export function methodNames<D extends Domain>(domain: D): MethodName<D>[] {
  return Object.keys(contract[domain]) as MethodName<D>[]
}

/** Validates a call's domain, method and arguments. Throws a readable message on bad input. */
export function validateCall(domain: string, name: string, args: unknown): { domain: Domain; name: string; args: unknown; long: boolean } {
  if (!Object.hasOwn(contract, domain)) throw Object.assign(new Error(`Unknown API domain "${domain}".`), { code: 'BAD_REQUEST' })
  const methods = contract[domain as Domain] as Record<string, Method<z.ZodType, unknown>>
  if (!Object.hasOwn(methods, name)) throw Object.assign(new Error(`Unknown API method "${domain}.${name}".`), { code: 'BAD_REQUEST' })
  const m = methods[name]
  const parsed = m.input.safeParse(args ?? {})
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')
    throw Object.assign(new Error(`Invalid arguments for ${domain}.${name}: ${detail}`), { code: 'BAD_REQUEST' })
  }
  return { domain: domain as Domain, name, args: parsed.data, long: !!m.long }
}
