import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { Out } from './output'
import { UsageError } from './output'

type Options = NonNullable<ParseArgsConfig['options']>

export interface Command<O extends Options = Options> {
  name: string
  usage: string
  summary: string
  /** Flag descriptions for --help, in the order shown. */
  help: string[]
  options: O
  run(positionals: string[], values: Record<string, string | boolean | string[] | undefined>, out: Out): Promise<number | void>
}

export const common = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export function defineCommand<O extends Options>(c: Command<O>): Command<O> {
  return c
}

export function parse(cmd: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...common, ...cmd.options }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nUsage: classifier-studio ${cmd.usage}\nRun classifier-studio ${cmd.name} --help for the options.`)
  }
}

export function helpText(cmd: Command): string {
  return [`Usage: classifier-studio ${cmd.usage}`, '', cmd.summary, '', 'Options:', ...cmd.help.map((h) => `  ${h}`), '  --json               print one JSON document on stdout (progress goes to stderr)', '  -h, --help           show this help'].join('\n')
}

export function num(value: unknown, flag: string, { min, max, int }: { min?: number; max?: number; int?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || (min !== undefined && n < min) || (max !== undefined && n > max))
    throw new UsageError(`${flag} expects ${int ? 'an integer' : 'a number'}${min !== undefined ? ` >= ${min}` : ''}${max !== undefined ? ` <= ${max}` : ''}, got "${String(value)}".`)
  return n
}

export function needArg(positionals: string[], i: number, what: string, cmd: Command): string {
  const v = positionals[i]
  if (!v) throw new UsageError(`Missing ${what}.\nUsage: classifier-studio ${cmd.usage}`)
  return v
}
