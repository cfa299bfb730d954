import type { z } from 'zod'
import { AppError } from '../../../shared/errors'

/** Parses options with a zod schema; a bad value becomes a BAD_REQUEST naming the field. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value ?? {})
  if (r.success) return r.data
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')
  throw new AppError('BAD_REQUEST', `Invalid ${what} options: ${issues}.`, `Check the ${what} options and try again.`)
}
