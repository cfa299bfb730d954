import { describe, expect, it } from 'vitest'
import { contract, domains, methodNames, ProjectName, validateCall } from '../../src/shared/contract'
import { createApi, type Transport } from '../../src/shared/client'
import { AppError, serializeError, deserializeError } from '../../src/shared/errors'

describe('contract validation', () => {
  it('accepts valid arguments and returns the parsed copy', () => {
    const call = validateCall('projects', 'open', { dir: '/tmp/x' })
    expect(call).toMatchObject({ domain: 'projects', name: 'open', args: { dir: '/tmp/x' } })
  })

  it('refuses unknown domains and methods, including prototype keys', () => {
    expect(() => validateCall('nope', 'x', {})).toThrow('Unknown API domain "nope"')
    expect(() => validateCall('projects', 'toString', {})).toThrow('Unknown API method "projects.toString"')
    expect(() => validateCall('__proto__', 'x', {})).toThrow(/Unknown API domain/)
  })

  it('names the bad field in its message', () => {
    expect(() => validateCall('projects', 'open', { dir: 42 })).toThrow(/Invalid arguments for projects\.open: dir:/)
    expect(() => validateCall('projects', 'rename', { dir: '/p' })).toThrow(/name:/)
  })

  it('checks training options without filling defaults, so the chosen model of the project still applies', () => {
    expect(validateCall('training', 'start', { dir: '/p', options: { epochs: 3 } }).args).toEqual({ dir: '/p', options: { epochs: 3 } })
    expect(validateCall('training', 'start', { dir: '/p' }).args).toEqual({ dir: '/p' })
    expect(() => validateCall('training', 'start', { dir: '/p', options: { epochs: 0 } })).toThrow(/options\.epochs:/)
    expect(() => validateCall('training', 'start', { dir: '/p', options: { recipe: 'magic' } })).toThrow(/options\.recipe:/)
  })

  it.each(['../evil', 'a/b', 'a\\b', '..', '.hidden', 'x\u0000y', 'c:d', ''])('refuses the project name %j', (name) => {
    expect(ProjectName.safeParse(name).success).toBe(false)
  })

  it.each(['Cats vs dogs', 'Fashion MNIST (v2)', 'Blumen 🌸'])('accepts the project name %j', (name) => {
    expect(ProjectName.safeParse(name).success).toBe(true)
  })
})

describe('client derived from the contract', () => {
  function fakeTransport(reply: (d: string, m: string, a: unknown) => unknown): Transport & { listeners: Set<(e: any, p: unknown) => void> } {
    const listeners = new Set<(e: any, p: unknown) => void>()
    return {
      listeners,
      invoke: async (d, m, a, callId) => {
        for (const l of listeners) l('progress', { callId, progress: { phase: 'x', done: 1, total: 2 } })
        for (const l of listeners) l('progress', { callId: 'other', progress: { phase: 'y', done: 0, total: 2 } })
        try {
          return { ok: true, result: reply(d, m, a) }
        } catch (err) {
          return { ok: false, error: serializeError(err) }
        }
      },
      cancel: async () => {},
      on: (l) => {
        listeners.add(l)
        return () => listeners.delete(l)
      },
    }
  }

  it('has one function per contract method', () => {
    const api = createApi(fakeTransport(() => null)) as unknown as Record<string, Record<string, unknown>>
    for (const d of domains()) for (const m of methodNames(d)) expect(typeof api[d][m]).toBe('function')
    expect(Object.keys(api.projects).sort()).toEqual(Object.keys(contract.projects).sort())
  })

  it('routes only its own progress to onProgress and unsubscribes afterwards', async () => {
    const t = fakeTransport((_d, _m, a) => a)
    const seen: string[] = []
    const api = createApi(t)
    const r = await api.projects.open({ dir: '/x' }, { onProgress: (p) => seen.push(p.phase) })
    expect(r).toEqual({ dir: '/x' })
    expect(seen).toEqual(['x'])
    expect(t.listeners.size).toBe(0)
  })

  it('rethrows service errors with code and hint', async () => {
    const api = createApi(fakeTransport(() => {
      throw new AppError('PROJECT_LOCKED', 'open elsewhere', 'close it')
    }))
    await expect(api.projects.open({ dir: '/x' })).rejects.toMatchObject({ code: 'PROJECT_LOCKED', message: 'open elsewhere', hint: 'close it' })
  })

  it('translates known Node errors (ENOENT is NOT_FOUND) and maps unknown codes to INTERNAL, never to a bogus code', () => {
    expect(serializeError(Object.assign(new Error('nope'), { code: 'ENOENT' })).code).toBe('NOT_FOUND')
    expect(serializeError(Object.assign(new Error('nope'), { code: 'EWHATEVER' })).code).toBe('INTERNAL')
    expect(deserializeError(serializeError(new AppError('NOT_FOUND', 'x'))).code).toBe('NOT_FOUND')
  })
})
