import { resolve } from 'node:path'
import type { z } from 'zod'
import type { Contract, Domain, Events, MethodName, Output, Progress, Method } from '../../shared/contract'
import { validateCall } from '../../shared/contract'
import { AppError } from '../../shared/errors'

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
 * so no request reads or writes outside the folders the user opened.
 */
export class Dispatcher {
  private readonly opened = new Set<string>()

  constructor(private readonly handlers: Handlers) {}

  async call(domain: string, name: string, rawArgs: unknown, ctx: CallContext): Promise<unknown> {
    const call = validateCall(domain, name, rawArgs)
    const args = call.args as Record<string, unknown>
    const key = `${call.domain}.${name}`
    if (typeof args.dir === 'string') {
      args.dir = resolve(args.dir)
      if (!OPENS_FOLDER.has(key) && !this.opened.has(args.dir as string))
        throw new AppError('FORBIDDEN', `${args.dir} is not a project opened in this session.`, 'Open the project first (Projects view, or projects.open).')
    }
    const handler = (this.handlers[call.domain] as Record<string, (a: unknown, c: CallContext) => Promise<unknown>>)[name]
    const result = await handler(args, ctx)
    const dir = (result as { dir?: unknown } | undefined)?.dir
    if (key === 'projects.open' || key === 'projects.create' || key === 'examples.create') this.opened.add(resolve(String(dir)))
    if (key === 'projects.close') this.opened.delete(args.dir as string)
    return result
  }

  /** Lets a trusted caller (CLI `serve --project`, Electron's open dialog) pre-authorise a folder. */
  allow(dir: string): void {
    this.opened.add(resolve(dir))
  }

  openedProjects(): string[] {
    return [...this.opened]
  }
}
