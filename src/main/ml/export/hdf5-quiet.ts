/**
 * The HDF5 library inside h5wasm reports a failed call by printing its error stack ("HDF5-DIAG:
 * Error detected in HDF5 …", ~20 lines per call) straight to file descriptor 2, and h5wasm then
 * carries on with an invalid id, so one unwritable file prints hundreds of lines and no error.
 * `hdf5Call` runs synchronous h5wasm work with those lines captured instead of printed, and turns
 * them into one error that names the file and carries the errno (ENOSPC, EACCES, …) HDF5 saw,
 * so callers can say what happened and how to fix it.
 *
 * How: h5wasm is compiled with NODERAWFS, which writes fd 2 with `fs.writeSync(2, …)`; while the
 * (synchronous) work runs, fd-2 writes of `fs.writeSync` are captured. No other code can run in
 * between; text that is not HDF5's is passed on to fd 2 unchanged.
 */
import fs from 'node:fs'

/** errno names by the C library's message, which HDF5 quotes ("error message = '…'"). */
const ERRNO_BY_MESSAGE: [RegExp, string][] = [
  [/No space left on device/i, 'ENOSPC'],
  [/Disk quota exceeded/i, 'EDQUOT'],
  [/Read-only file system/i, 'EROFS'],
  [/Permission denied/i, 'EACCES'],
  [/Operation not permitted/i, 'EPERM'],
  [/No such file or directory/i, 'ENOENT'],
  [/Not a directory/i, 'ENOTDIR'],
  [/Is a directory/i, 'EISDIR'],
  [/File name too long/i, 'ENAMETOOLONG'],
  [/Device or resource busy/i, 'EBUSY'],
]

/** An HDF5 call failed: `code` is the errno name when HDF5 quoted one. */
export class Hdf5Error extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly path: string,
    /** The HDF5 error stack as the library printed it (for logs, never for people). */
    readonly diagnostics: string,
  ) {
    super(message)
    this.name = 'Hdf5Error'
  }
}

/** The deepest line of an HDF5 error stack, which says what actually failed. */
function summarise(diag: string): { what: string; code: string | undefined } {
  const lines = diag.split('\n').filter((l) => /^\s*#\d+:/.test(l))
  const deepest = lines[lines.length - 1] ?? ''
  const what = deepest.replace(/^\s*#\d+:.*? in [\w:]+\(\):\s*/, '').trim() || 'the HDF5 library reported an error'
  const quoted = /error message = '([^']*)'/.exec(diag)?.[1] ?? ''
  const code = ERRNO_BY_MESSAGE.find(([re]) => re.test(quoted))?.[1]
  // "name = '/x/model.h5', errno = 28, error message = '…', flags = …": keep the human part.
  const short = what.replace(/:\s*(time|name|filename) = .*$/s, '').replace(/,\s*flags = .*$/, '').replace(/,\s*errno = \d+/, '')
  return { what: short, code }
}

let depth = 0
let captured = ''

/**
 * Runs `work` (synchronous h5wasm calls on `file`) without HDF5's diagnostics on stderr. If
 * HDF5 reported an error, throws one Hdf5Error naming `file` and the action instead.
 */
export function hdf5Call<T>(file: string, action: string, work: () => T): T {
  const original = fs.writeSync
  if (depth === 0) {
    captured = ''
    const capture = function (this: unknown, fd: number, data: unknown, ...rest: unknown[]): number {
      if (fd !== 2) return (original as (...a: unknown[]) => number).call(fs, fd, data, ...rest)
      if (typeof data === 'string') {
        captured += data
        return Buffer.byteLength(data)
      }
      const view = data as ArrayBufferView
      const offset = typeof rest[0] === 'number' ? rest[0] : 0
      const length = typeof rest[1] === 'number' ? rest[1] : view.byteLength - offset
      captured += Buffer.from(view.buffer, view.byteOffset + offset, length).toString('utf8')
      return length
    }
    fs.writeSync = capture as typeof fs.writeSync
  }
  depth++
  let result: T
  let thrown: unknown = null
  try {
    result = work()
  } catch (err) {
    thrown = err
  } finally {
    depth--
    if (depth === 0) fs.writeSync = original
  }
  if (depth > 0) {
    if (thrown) throw thrown
    return result!
  }
  const text = captured
  captured = ''
  const at = text.indexOf('HDF5-DIAG')
  const other = at < 0 ? text : text.slice(0, at)
  if (other) original.call(fs, 2, other) // passed on the way it was written
  if (at >= 0) {
    const { what, code } = summarise(text.slice(at))
    throw new Hdf5Error(`HDF5 could not ${action} ${file}: ${what}${code ? ` (${code})` : ''}.`, code, file, text.slice(at))
  }
  if (thrown) throw thrown
  return result!
}
