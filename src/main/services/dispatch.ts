import { resolve } from 'node:path'
import type { z } from 'zod'
import type { Contract, Domain, Events, MethodName, Output, Progress, Method } from '../../shared/contract'
import { validateCall } from '../../shared/contract'
import { AppError } from '../../shared/errors'
import { projectKey, projectPath } from './projects/identity'

/** What a service function receives besides its validated arguments. */
export interface CallContext {
  onProgress(progress: Progress): void
  signal: AbortSignal
  emit<E extends keyof Events>(event: E, payload: Events[E]): void
}

type ParsedInput<D extends Domain, M extends MethodName<D>> =
  Contract[D][M] extends Method<infer I extends z.ZodType, unknown> ? z.output<I> : never

export type Handlers = {
  [D in Domain]: { [M in MethodName<D>]: (args: ParsedInput<D, M>, ctx: CallContext) => Promise<Output<D, M>> }
}

/** Methods that may name a project folder the caller has not opened in this session. */
const OPENS_FOLDER = new Set(['projects.open', 'projects.forget'])

/**
 * Binds the contract to its handlers once, for every transport (Electron IPC, web bridge):
 * validates arguments and refuses any `dir` that is not a project opened in this session,
 * so no request reads or writes outside the folders the user opened. Projects are known by
 * their identity (`projectKey`: the real path), so opening one through a symlink authorises
 * its real path too, and every `dir` reaches the handlers as the one path of its project.
 */
export class Dispatcher {
  /** Opened projects: identity key -> the path handed to handlers (the real path). */
  private readonly opened = new Map<string, string>()

  constructor(private readonly handlers: Handlers) {}

  async call(domain: string, name: string, rawArgs: unknown, ctx: CallContext): Promise<unknown> {
    const call = validateCall(domain, name, rawArgs)
    const args = call.args as Record<string, unknown>
    const key = `${call.domain}.${name}`
    if (typeof args.dir === 'string') {
      const given = args.dir
      if (given.includes('\0'))
        throw new AppError('INVALID_INPUT', 'The folder path (dir) contains a NUL character.', 'Pass the project folder path as plain text, without NUL characters.')
      const known = this.openedPath(given)
      if (known === null && !OPENS_FOLDER.has(key)) {
        const real = projectPath(given)
        const also = real === resolve(given) ? '' : ` (${real})`
        throw new AppError('FORBIDDEN', `${given}${also} is not a project opened in this session.`, 'Open the project first (Projects view, or projects.open).')
      }
      args.dir = known ?? projectPath(given)
    }
    const handler = (this.handlers[call.domain] as Record<string, (a: unknown, c: CallContext) => Promise<unknown>>)[name]
    const result = await handler(args, ctx)
    const dir = (result as { dir?: unknown } | undefined)?.dir
    if ((key === 'projects.open' || key === 'projects.create' || key === 'examples.create') && typeof dir === 'string') this.allow(dir)
    if (key === 'projects.close') this.opened.delete(projectKey(args.dir as string))
    return result
  }

  /** Lets a trusted caller (CLI `serve --project`, Electron's open dialog) pre-authorise a folder. */
  allow(dir: string): void {
    const key = projectKey(dir)
    if (!this.opened.has(key)) this.opened.set(key, projectPath(dir))
  }

  /** The path of the opened project that `dir` names (any spelling of it), or null when it is not opened. */
  openedPath(dir: string): string | null {
    return this.opened.get(projectKey(dir)) ?? null
  }

  openedProjects(): string[] {
    return [...this.opened.values()]
  }
}
