import type { Progress } from '../shared/contract'
import { serializeError } from '../shared/errors'

/** Thrown for bad usage: exit code 2 with the command's usage line. */
export class UsageError extends Error {}

export interface Out {
  json: boolean
  /** The command's result: one JSON document on stdout with --json, readable text otherwise. */
  result(value: unknown, text: string): void
  progress(p: Progress): void
  log(message: string): void
}

function bar(p: Progress): string {
  const width = 28
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0
  const filled = Math.round(frac * width)
  const eta = p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) ? ` ETA ${Math.ceil(p.etaSeconds)}s` : ''
  const rate = p.rate ? ` ${p.rate.toFixed(1)}/s` : ''
  return `${p.phase} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total}${rate}${eta}${p.message ? ' ' + p.message : ''}`
}

export function createOut(json: boolean): Out {
  const tty = process.stderr.isTTY
  let last = 0
  let open = false
  return {
    json,
    result(value, text) {
      if (open) process.stderr.write('\n')
      open = false
      process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : text + '\n')
    },
    progress(p) {
      if (tty) {
        process.stderr.write('\r' + bar(p).padEnd(100).slice(0, Math.max(40, (process.stderr.columns ?? 100) - 1)))
        open = true
        if (p.done >= p.total && p.total > 0) {
          process.stderr.write('\n')
          open = false
        }
        return
      }
      const now = Date.now()
      if (now - last > 2000 || p.done >= p.total) {
        last = now
        process.stderr.write(bar(p) + '\n')
      }
    },
    log(message) {
      if (open) process.stderr.write('\n')
      open = false
      process.stderr.write(message + '\n')
    },
  }
}

/** Prints an error as what happened + how to fix, and returns the exit code. */
export function reportError(err: unknown, json: boolean): number {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`)
    return 2
  }
  const e = serializeError(err)
  if (json) process.stderr.write(JSON.stringify({ error: { code: e.code, message: e.message, hint: e.hint } }) + '\n')
  else process.stderr.write(`Error: ${e.message}\n${e.hint ? e.hint + '\n' : ''}`)
  if (e.code === 'INTERNAL' && process.env.CLASSIFIER_STUDIO_DEBUG) process.stderr.write(`${e.stack ?? ''}\n`)
  return 1
}
