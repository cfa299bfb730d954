import type { z } from 'zod'

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
  /** Something is already there or in the way (a non-empty folder, an existing file). */
  'CONFLICT',
  /** The disk (or quota) is full. */
  'DISK_FULL',
  /** A server the app downloads from cannot be reached or keeps failing (the network, not the app). */
  'NETWORK',
  'INTERNAL',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

/**
 * The one mapping from error codes to HTTP statuses (the web bridge's answers). 4xx are the
 * caller's or the user's to fix; 5xx are failures of the app or of its machine: INTERNAL (a
 * bug, logged with its stack on the server), NOT_IMPLEMENTED, NETWORK (502: a download server
 * cannot be reached) and DISK_FULL (507).
 * PROJECT_DAMAGED is 422: the request was fine, the project's files on disk are not.
 * CANCELLED is 499 (nginx's "client closed request"): the caller asked to stop.
 */
const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  INVALID_INPUT: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  NOT_A_PROJECT: 404,
  PROJECT_EXISTS: 409,
  PROJECT_LOCKED: 409,
  CONFLICT: 409,
  PROJECT_DAMAGED: 422,
  CANCELLED: 499,
  INTERNAL: 500,
  NOT_IMPLEMENTED: 501,
  NETWORK: 502,
  DISK_FULL: 507,
}

export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500
}

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

/** The deepest nesting accepted in call arguments (JSON bodies, IPC arguments). */
export const MAX_NESTING = 64

const isCode = (c: unknown): c is ErrorCode => typeof c === 'string' && (ERROR_CODES as readonly string[]).includes(c)

/** Shortens a path for a message (ENAMETOOLONG paths can be thousands of characters). */
function shown(path: string): string {
  const p = path.replace(/\0/g, '\\0')
  return p.length > 160 ? `${p.slice(0, 80)}…${p.slice(-60)} (${p.length} characters)` : p
}

const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the folder',
  rmdir: 'remove the folder',
  rm: 'remove',
  unlink: 'delete',
  rename: 'move',
  copyfile: 'copy',
  cp: 'copy',
  link: 'link',
  symlink: 'link',
  scandir: 'list the folder',
  opendir: 'list the folder',
  stat: 'read',
  lstat: 'read',
  access: 'read',
  chmod: 'change the permissions of',
  utime: 'update',
  ftruncate: 'write',
  fsync: 'write',
  close: 'write',
}

/**
 * Turns an error into one a person can act on. AppErrors pass unchanged; errors carrying one
 * of ERROR_CODES keep their code and hint; raw Node file-system errors (code, syscall, path,
 * dest) become messages naming the path and the fix; AbortError is CANCELLED; a stack overflow
 * (deeply nested input) is BAD_REQUEST. Anything else is INTERNAL with its own message.
 * Pure: no Node imports.
 */
export function translateError(err: unknown): AppError {
  if (err instanceof AppError) return err
  if (!(err instanceof Error)) return new AppError('INTERNAL', String(err))
  const e = err as Error & { code?: unknown; hint?: unknown; syscall?: unknown; path?: unknown; dest?: unknown }
  const hint = typeof e.hint === 'string' ? e.hint : undefined
  const keep = (a: AppError) => Object.assign(a, { stack: err.stack })
  if (isCode(e.code)) return keep(new AppError(e.code, e.message, hint))
  if (err.name === 'AbortError') return keep(new AppError('CANCELLED', err.message || 'The operation was cancelled.', hint))
  const code = typeof e.code === 'string' ? e.code : ''
  const path = typeof e.path === 'string' ? e.path : undefined
  const dest = typeof e.dest === 'string' ? e.dest : undefined
  const verb = VERBS[typeof e.syscall === 'string' ? e.syscall : ''] ?? 'use'
  const at = path ? shown(path) : 'a file'
  const target = dest ? shown(dest) : at
  switch (code) {
    case 'ENOENT':
      return keep(new AppError('NOT_FOUND', `${at} does not exist (ENOENT${dest ? `, moving to ${target}` : ''}).`, 'Check the path: its spelling, and that the folder or drive holding it is still there.'))
    case 'ENOSPC':
    case 'EDQUOT':
      return keep(new AppError('DISK_FULL', `The disk is full: could not ${verb} ${target} (${code}).`, 'Free some space on that disk (or choose a folder on another disk), then try again.'))
    case 'ENOTDIR':
      return keep(new AppError('INVALID_INPUT', `Cannot ${verb} ${target}: a part of this path is a file, not a folder (ENOTDIR).`, 'Choose a path whose parent folders are all folders (for example, not "notes.txt/sub").'))
    case 'EISDIR':
      return keep(new AppError('INVALID_INPUT', `Cannot ${verb} ${target}: it is a folder, where a file was expected (EISDIR).`, 'Give the path of a file, or choose another name.'))
    case 'EROFS':
      return keep(new AppError('FORBIDDEN', `Cannot ${verb} ${target}: it is on a read-only file system (EROFS).`, 'Choose a folder on a writable disk, or remount this one read-write.'))
    case 'EACCES':
    case 'EPERM':
      return keep(new AppError('FORBIDDEN', `Not allowed to ${verb} ${target} (${code}: permission denied).`, 'Choose a folder you can write to, or change its permissions (or close the program that holds it).'))
    case 'EBUSY':
      return keep(new AppError('FORBIDDEN', `Cannot ${verb} ${target}: it is busy (EBUSY), in use by another program or a mount point (often a read-only mount).`, 'Close the program using it, or choose a folder inside the mounted disk rather than the mount point itself, on a writable disk.'))
    case 'ENAMETOOLONG':
      return keep(new AppError('INVALID_INPUT', `The path is too long to ${verb}: ${target} (ENAMETOOLONG).`, 'Use a shorter folder or file name (most file systems allow 255 characters per name).'))
    case 'ENOTEMPTY':
      return keep(new AppError('CONFLICT', `Cannot ${verb} ${at}${dest ? ` to ${target}` : ''}: ${target} is not empty (ENOTEMPTY); another operation may be writing there at the same time.`, 'Wait for the other operation to finish or choose another (empty or new) folder, then try again.'))
    case 'EEXIST':
      return keep(new AppError('CONFLICT', `Cannot ${verb} ${target}: it already exists (EEXIST).`, 'Choose another name, or remove the existing one first.'))
    case 'ELOOP':
      return keep(new AppError('INVALID_INPUT', `Cannot ${verb} ${target}: its symbolic links loop (ELOOP).`, 'Fix or remove the looping link, or give the real path.'))
    case 'EMFILE':
    case 'ENFILE':
      return keep(new AppError('INTERNAL', `Too many open files while trying to ${verb} ${target} (${code}).`, 'Close other programs or raise the open-file limit (ulimit -n), then try again.'))
    case 'ERR_INVALID_ARG_VALUE':
    case 'ERR_INVALID_ARG_TYPE':
      if (/null bytes|\\x00|\0/.test(err.message))
        return keep(new AppError('INVALID_INPUT', 'A path contains a NUL byte (\\0), which no file system accepts.', 'Remove the NUL character from the file or folder path and try again.'))
      break
  }
  if (err instanceof RangeError && /Maximum call stack/i.test(err.message))
    return keep(new AppError('BAD_REQUEST', `The input is nested too deeply to process (more than ${MAX_NESTING} levels).`, `Send flatter data: at most ${MAX_NESTING} levels of nested objects or arrays.`))
  return keep(new AppError('INTERNAL', err.message || err.name, hint))
}

export function serializeError(err: unknown): SerializedError {
  const e = translateError(err)
  const out: SerializedError = { name: err instanceof Error ? err.name : 'Error', code: e.code, message: e.message }
  if (e.hint !== undefined) out.hint = e.hint
  if (e.stack !== undefined && err instanceof Error) out.stack = e.stack
  return out
}

/** Rebuilds an error sent by another process; a code this version does not know is INTERNAL. */
export function deserializeError(e: SerializedError): AppError {
  const err = new AppError(isCode(e.code) ? e.code : 'INTERNAL', e.message, e.hint)
  if (e.stack) err.stack = e.stack
  return err
}

export function formatError(e: { message: string; hint?: string }): string {
  return e.hint ? `${e.message}\n${e.hint}` : e.message
}

/**
 * Parses a value with a zod schema, or throws an AppError naming each wrong field, what it
 * expected and what it received (as Keras does). `what` names the value: "Invalid <what>: …",
 * or "<what> is damaged: …" for PROJECT_DAMAGED (a file on disk, not the caller, is wrong).
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, hint?: string, code: ErrorCode = 'INVALID_INPUT'): z.output<S> {
  const r = schema.safeParse(value, { reportInput: true })
  if (r.success) return r.data
  const details = r.error.issues.map(describeIssue).join('; ')
  throw new AppError(code, code === 'PROJECT_DAMAGED' ? `${what} is damaged: ${details}.` : `Invalid ${what}: ${details}.`, hint)
}

function describeIssue(i: z.core.$ZodIssue): string {
  const at = i.path.length ? `${i.path.join('.')}: ` : ''
  const got = received(i.input)
  return `${at}${i.message}${got === undefined ? '' : ` (received: ${got})`}`
}

/** A received value for a message: primitives only (zod's message already names an object's type). */
function received(v: unknown): string | undefined {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v)
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === null) return String(v)
  return undefined
}
