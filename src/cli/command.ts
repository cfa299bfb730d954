import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
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

/** The usage line and where to read more, appended to every usage error. */
export function usageTail(cmd: Command): string {
  return `Usage: classifier-studio ${cmd.usage}\nRun classifier-studio ${cmd.name} --help for the options.`
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
  return d[a.length][b.length]
}

/** The closest of `names` to `given`, when it is close enough to be a typo. */
export function closest(given: string, names: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const n of names) {
    const d = n.startsWith(given) || given.startsWith(n) ? Math.min(1, distance(given, n)) : distance(given, n)
    if (d < bestD) {
      best = n
      bestD = d
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined
}

/** The --help line of a flag ("--epochs N  epochs (default 10)"), to show with an error about it. */
function helpLine(cmd: Command, flag: string): string | undefined {
  const line = cmd.help.find((h) => h.startsWith(`--${flag} `) || h === `--${flag}`)
  return line?.replace(/\s{2,}/g, '  ')
}

/** A value that looks like a negative number ("-1", "-0.5", "-1e-3"), not an option. */
const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i

/**
 * Checks argv against the command's flags before Node's parseArgs sees it, so every mistake is
 * reported in the command's own words (unknown flag with a suggestion, missing value, a value
 * given to a switch), and rewrites `--flag -1` to `--flag=-1`: parseArgs would take "-1" for an
 * option, but a negative number after a flag that takes a value is that flag's value (validated
 * by the command with a clear range).
 */
export function normaliseArgs(cmd: Command, argv: string[]): string[] {
  const options: Options = { ...common, ...cmd.options }
  const names = Object.keys(options)
  const shorts = new Map(Object.entries(options).flatMap(([n, o]) => (o.short ? [[o.short, n] as const] : [])))
  const out: string[] = []
  const unknown = (given: string) => {
    const guess = given.startsWith('--') ? closest(given.slice(2), names) : undefined
    return new UsageError(`Unknown option '${given}' for \`${cmd.name}\`.${guess ? ` Did you mean --${guess}?` : ''}\n${usageTail(cmd)}`)
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      out.push(...argv.slice(i))
      break
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=')
      const name = a.slice(2, eq < 0 ? undefined : eq)
      const opt = options[name]
      if (!opt) throw unknown(eq < 0 ? a : a.slice(0, eq))
      if (opt.type === 'boolean') {
        if (eq >= 0) throw new UsageError(`--${name} is a switch and takes no value (got "${a.slice(eq + 1)}"): write just --${name}.\n${usageTail(cmd)}`)
        out.push(a)
        continue
      }
      if (eq >= 0) {
        out.push(a)
        continue
      }
      const next = argv[i + 1]
      const isOption = next !== undefined && next.startsWith('-') && !NEGATIVE_NUMBER.test(next) && next !== '-'
      if (next === undefined || isOption) {
        const line = helpLine(cmd, name)
        throw new UsageError(`--${name} needs a value${next === undefined ? '' : ` (it is followed by the option ${next})`}.${line ? `\n  ${line}` : ''}\n${usageTail(cmd)}`)
      }
      out.push(`--${name}=${next}`)
      i++
      continue
    }
    if (a.startsWith('-') && a !== '-' && !NEGATIVE_NUMBER.test(a)) {
      const flags = a.slice(1)
      for (const f of flags) if (!shorts.has(f)) throw unknown(flags.length === 1 ? a : `-${f}`)
      out.push(a)
      continue
    }
    if (NEGATIVE_NUMBER.test(a)) {
      // A negative number where no flag takes it: most likely a flag left out before it.
      throw new UsageError(`"${a}" is not an argument of \`${cmd.name}\`: a number must follow the flag it is the value of (e.g. --seed ${a.slice(1)}).\n${usageTail(cmd)}`)
    }
    out.push(a)
  }
  return out
}

export function parse(cmd: Command, argv: string[]) {
  const args = normaliseArgs(cmd, argv)
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args, options: { ...common, ...cmd.options }, allowPositionals: true, strict: true })
  } catch (err) {
    // normaliseArgs catches what parseArgs refuses; this is a safety net with the same shape.
    const message = (err as Error).message.replace(/To specify a positional argument.*$/s, '').trim()
    throw new UsageError(`${message}\n${usageTail(cmd)}`)
  }
  // An empty value (--run "", an unset shell variable) would silently mean "the default".
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string' && value.trim() === '') {
      const line = helpLine(cmd, name)
      throw new UsageError(`--${name} was given an empty value.${line ? `\n  ${line}` : ''}\nGive a value, or leave --${name} out for the default.`)
    }
  }
  return parsed
}

export function helpText(cmd: Command): string {
  return [`Usage: classifier-studio ${cmd.usage}`, '', cmd.summary, '', 'Options:', ...cmd.help.map((h) => `  ${h}`), '  --json               print one JSON document on stdout (progress goes to stderr)', '  -h, --help           show this help'].join('\n')
}

export interface NumRange {
  min?: number
  max?: number
  /** Exclusive lower bound (a learning rate must be above 0). */
  above?: number
  int?: boolean
  /** A typical value, shown in the message ("e.g. --epochs 10"). */
  example?: string
}

/** Parses a numeric flag; a value that is not a number, or out of range, is a usage error naming the flag and the range. */
export function num(value: unknown, flag: string, { min, max, above, int, example }: NumRange = {}): number | undefined {
  if (value === undefined) return undefined
  const text = String(value).trim()
  const n = text === '' ? NaN : Number(text)
  if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || (min !== undefined && n < min) || (max !== undefined && n > max) || (above !== undefined && n <= above)) {
    const range = [above !== undefined ? `> ${above}` : '', min !== undefined ? `>= ${min}` : '', max !== undefined ? `<= ${max}` : ''].filter(Boolean)
    const what = int ? 'an integer' : 'a number'
    const shown = /^[\w.+-]*$/.test(String(value)) ? String(value) : JSON.stringify(String(value))
    throw new UsageError(`${flag} expects ${what}${range.length ? ` ${range.join(' and ')}` : ''}, got ${shown}.${example ? ` For example: ${flag} ${example}.` : ''}`)
  }
  return n
}

/** Parses a flag whose value is one of `choices`. */
export function choice<T extends string>(value: unknown, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined
  const v = String(value)
  if ((choices as readonly string[]).includes(v)) return v as T
  const guess = closest(v, [...choices])
  throw new UsageError(`${flag} expects ${choices.slice(0, -1).join(', ')}${choices.length > 1 ? ' or ' : ''}${choices[choices.length - 1]}, got "${v}".${guess ? ` Did you mean ${flag} ${guess}?` : ''}`)
}

/**
 * Checks a file the command will write (--csv FILE) before any long work: its folder must exist
 * and the path must not be a folder. Returns the absolute path.
 */
export function outputFile(value: unknown, flag: string, exampleName = 'report.csv'): string | undefined {
  if (value === undefined) return undefined
  const file = resolve(String(value))
  const parent = dirname(file)
  let st: ReturnType<typeof statSync> | undefined
  try {
    st = statSync(parent, { throwIfNoEntry: false })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err
    throw new UsageError(`${flag} ${String(value)}: a part of ${parent} is a file, not a folder. Give a path like results/${exampleName} inside a folder.`)
  }
  if (!st) throw new UsageError(`${flag} ${String(value)}: the folder ${parent} does not exist. Create it first, or give a file in an existing folder.`)
  if (!st.isDirectory()) throw new UsageError(`${flag} ${String(value)}: ${parent} is a file, not a folder. Give a path like results/${exampleName} inside a folder.`)
  if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${flag} ${String(value)} is a folder; give the path of a file to write, e.g. ${file}/${exampleName}.`)
  return file
}

export function needArg(positionals: string[], i: number, what: string, cmd: Command): string {
  const v = positionals[i]
  if (!v) throw new UsageError(`Missing ${what}.\n${usageTail(cmd)}`)
  return v
}

/** Refuses positionals beyond what the command takes (a typo'd flag value, a forgotten quote). */
export function noExtraArgs(positionals: string[], count: number, cmd: Command): void {
  if (positionals.length > count)
    throw new UsageError(`Unexpected argument${positionals.length - count > 1 ? 's' : ''} ${positionals.slice(count).map((p) => `"${p}"`).join(', ')} for \`${cmd.name}\`: it takes ${count === 0 ? 'no' : count} positional argument${count === 1 ? '' : 's'}. Quote paths with spaces; put each value right after its flag.\n${usageTail(cmd)}`)
}
