import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { AppError, ERROR_CODES, httpStatus, serializeError, translateError } from '../../src/shared/errors'
import { validateCall } from '../../src/shared/contract'

const root = mkdtempSync(join(tmpdir(), 'cs-errors-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The error a real file-system call throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('expected a throw')
}

const sys = (code: string, syscall: string, path: string, dest?: string) =>
  Object.assign(new Error(`${code}: raw node message, ${syscall} '${path}'`), { code, errno: -1, syscall, path, ...(dest ? { dest } : {}) })

describe('error codes and HTTP statuses', () => {
  it('maps every code to one status, 5xx only for internal failures', () => {
    expect(httpStatus('BAD_REQUEST')).toBe(400)
    expect(httpStatus('INVALID_INPUT')).toBe(400)
    expect(httpStatus('FORBIDDEN')).toBe(403)
    expect(httpStatus('NOT_FOUND')).toBe(404)
    expect(httpStatus('NOT_A_PROJECT')).toBe(404)
    expect(httpStatus('PROJECT_EXISTS')).toBe(409)
    expect(httpStatus('PROJECT_LOCKED')).toBe(409)
    expect(httpStatus('PROJECT_DAMAGED')).toBe(422)
    expect(httpStatus('CANCELLED')).toBe(499)
    expect(httpStatus('NOT_IMPLEMENTED')).toBe(501)
    expect(httpStatus('INTERNAL')).toBe(500)
    expect(httpStatus('NETWORK')).toBe(502)
    for (const c of ERROR_CODES) expect(httpStatus(c)).toBeGreaterThanOrEqual(400)
  })
})

describe('translateError: raw Node errors become errors that say what happened and how to fix it', () => {
  it('ENOENT from a real stat names the path (NOT_FOUND)', () => {
    const p = join(root, 'missing', 'x.png')
    const e = translateError(thrown(() => statSync(p)))
    expect(e.code).toBe('NOT_FOUND')
    expect(e.message).toContain(p)
    expect(e.hint).toBeTruthy()
  })

  it('ENOTDIR: a part of the path is a file', () => {
    const file = join(root, 'afile.txt')
    writeFileSync(file, 'x')
    const e = translateError(thrown(() => mkdirSync(join(file, 'sub'), { recursive: true })))
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toContain(file)
    expect(e.message).toMatch(/is a file/)
    expect(e.hint).toMatch(/folder/)
  })

  it('ENAMETOOLONG, ENOTEMPTY and EEXIST from real calls', () => {
    const long = join(root, 'n'.repeat(300))
    const a = translateError(thrown(() => statSync(long)))
    expect(a.code).toBe('INVALID_INPUT')
    expect(a.message).toMatch(/too long/)
    expect(a.hint).toMatch(/shorter/)

    const full = join(root, 'full')
    mkdirSync(full)
    writeFileSync(join(full, 'f'), 'x')
    const b = translateError(thrown(() => rmdirSync(full)))
    expect(b.code).toBe('CONFLICT')
    expect(b.message).toContain(full)
    expect(b.message).toMatch(/not empty/)
    expect(httpStatus(b.code)).toBe(409)

    const c = translateError(thrown(() => mkdirSync(full)))
    expect(c.code).toBe('CONFLICT')
    expect(c.message).toContain(full)
    expect(c.message).toMatch(/already exists/)
  })

  it('NUL bytes in a path (ERR_INVALID_ARG_VALUE / ERR_INVALID_ARG_TYPE) become INVALID_INPUT', () => {
    const e = translateError(thrown(() => statSync(join(root, 'a\u0000b'))))
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toMatch(/NUL/)
    expect(e.hint).toBeTruthy()
    const t = translateError(Object.assign(new TypeError("The argument 'path' must be a string, Uint8Array, or URL without null bytes. Received '/x\\x00y'"), { code: 'ERR_INVALID_ARG_TYPE' }))
    expect(t.code).toBe('INVALID_INPUT')
  })

  it('ENOSPC, EROFS, EACCES, EPERM, EBUSY: disk full, read-only or not allowed, each naming the path and the fix', () => {
    const full = translateError(sys('ENOSPC', 'write', '/data/project/dataset/chunk-3.bin'))
    expect(full.code).toBe('DISK_FULL')
    expect(full.message).toContain('/data/project/dataset/chunk-3.bin')
    expect(full.message).toMatch(/disk is full/)
    expect(full.hint).toMatch(/[Ff]ree/)
    expect(httpStatus(full.code)).toBe(507)
    for (const code of ['EROFS', 'EACCES', 'EPERM', 'EBUSY']) {
      const e = translateError(sys(code, 'mkdir', '/mnt/ro/out'))
      expect(e.code, code).toBe('FORBIDDEN')
      expect(e.message).toContain('/mnt/ro/out')
      expect(e.message).toContain(code)
      expect(e.hint).toBeTruthy()
    }
    expect(translateError(sys('EROFS', 'open', '/mnt/ro/x')).message).toMatch(/read-only/)
    expect(translateError(sys('ENOTEMPTY', 'rename', '/a/tmp', '/a/out')).message).toContain('/a/out')
  })

  it('a stack overflow on deep input is a bad request, not an internal error', () => {
    const e = translateError(new RangeError('Maximum call stack size exceeded'))
    expect(e.code).toBe('BAD_REQUEST')
    expect(e.message).toMatch(/nested/)
  })

  it('keeps the code and hint of errors thrown as Object.assign(new Error(msg), { code, hint })', () => {
    const e = Object.assign(new Error('Unknown example "x".'), { code: 'INVALID_INPUT', hint: 'Pick one of a, b.' })
    expect(serializeError(e)).toMatchObject({ code: 'INVALID_INPUT', message: 'Unknown example "x".', hint: 'Pick one of a, b.' })
    const app = new AppError('PROJECT_LOCKED', 'open elsewhere', 'close it')
    expect(serializeError(app)).toMatchObject({ code: 'PROJECT_LOCKED', hint: 'close it' })
    expect(serializeError(sys('ENOTDIR', 'mkdir', '/x/f/sub')).code).toBe('INVALID_INPUT')
    expect(serializeError(Object.assign(new Error('x'), { code: 'EWHATEVER' })).code).toBe('INTERNAL')
    expect(serializeError(Object.assign(new Error('x'), { name: 'AbortError' })).code).toBe('CANCELLED')
  })
})

describe('validateCall refuses NUL bytes and deep nesting in every argument', () => {
  const code = (f: () => unknown) => (thrown(f) as { code?: string }).code
  it('NUL in any string argument is INVALID_INPUT naming the argument', () => {
    const e = thrown(() => validateCall('datasets', 'import', { dir: '/p', source: '/x\u0000y' })) as Error & { code: string }
    expect(e.code).toBe('INVALID_INPUT')
    expect(e.message).toMatch(/source/)
    expect(e.message).toMatch(/NUL/)
    expect(code(() => validateCall('evaluation', 'predict', { dir: '/p', paths: ['/ok', 'a\u0000'] }))).toBe('INVALID_INPUT')
    expect(code(() => validateCall('projects', 'open', { dir: 'a\u0000' }))).toBe('INVALID_INPUT')
  })
  it('arguments nested deeper than 64 levels are refused before any schema runs', () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    const e = thrown(() => validateCall('projects', 'saveState', { dir: '/p', key: 'k', value: deep })) as Error & { code: string }
    expect(e.code).toBe('BAD_REQUEST')
    expect(e.message).toMatch(/nested deeper than 64/)
  })
  it('cyclic, widely shared or huge arguments (possible over IPC) end in a bounded refusal', () => {
    const cyclic: Record<string, unknown> = { dir: '/p', key: 'k' }
    cyclic.value = cyclic
    expect(code(() => validateCall('projects', 'saveState', cyclic))).toBe('BAD_REQUEST')
    let shared: unknown = 'leaf'
    for (let i = 0; i < 40; i++) shared = [shared, shared] // 2^40 paths through 40 arrays
    expect((thrown(() => validateCall('projects', 'saveState', { dir: '/p', key: 'k', value: shared })) as Error).message).toMatch(/more than 100000 objects/)
    const many = Array.from({ length: 200_000 }, () => ({}))
    expect(code(() => validateCall('projects', 'saveState', { dir: '/p', key: 'k', value: many }))).toBe('BAD_REQUEST')
  })
})
