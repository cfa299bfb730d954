/** Error codes every layer (services, IPC, web bridge, CLI, renderer) understands. */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'NOT_A_PROJECT',
  'PROJECT_DAMAGED',
  'PROJECT_EXISTS',
  'PROJECT_LOCKED',
  'NOT_FOUND',
  'NOT_IMPLEMENTED',
  'FORBIDDEN',
  'CANCELLED',
  'INVALID_INPUT',
  'INTERNAL',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

/** An error meant for a person: what happened (message) and how to fix it (hint). */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message)
    this.name = 'AppError'
  }
}

/** The shape errors travel in across process and network boundaries. */
export interface SerializedError {
  name: string
  code: ErrorCode
  message: string
  hint?: string
  stack?: string
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof AppError) return { name: err.name, code: err.code, message: err.message, hint: err.hint, stack: err.stack }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { name: err.name, code: err.name === 'AbortError' ? 'CANCELLED' : ERROR_CODES.includes(code as ErrorCode) ? (code as ErrorCode) : 'INTERNAL', message: err.message, stack: err.stack }
  }
  return { name: 'Error', code: 'INTERNAL', message: String(err) }
}

export function deserializeError(e: SerializedError): AppError {
  const err = new AppError(e.code, e.message, e.hint)
  if (e.stack) err.stack = e.stack
  return err
}

export function formatError(e: { message: string; hint?: string }): string {
  return e.hint ? `${e.message}\n${e.hint}` : e.message
}
