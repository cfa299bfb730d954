import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { AppError, deserializeError, parseOrThrow, serializeError, type SerializedError } from '../../src/shared/errors'
import { getExample } from '../../src/shared/examples'

const Options = z.object({ epochs: z.number().int().max(1000), name: z.string(), tags: z.array(z.string()).optional() }).strict()

/** The AppError a call throws. */
function thrown(fn: () => unknown): AppError {
  try {
    fn()
  } catch (e) {
    if (e instanceof AppError) return e
    throw e
  }
  throw new Error('expected a throw')
}

describe('parseOrThrow: one message for every schema', () => {
  it('returns the parsed value', () => {
    expect(parseOrThrow(Options, { epochs: 3, name: 'a' }, 'training options')).toEqual({ epochs: 3, name: 'a' })
  })

  it('names each wrong field, what it expected and what it received, with the code and hint given', () => {
    const e = thrown(() => parseOrThrow(Options, { epochs: 5000, name: 7, tags: {}, extra: 1 }, 'training options', 'See --help.', 'BAD_REQUEST'))
    expect(e.code).toBe('BAD_REQUEST')
    expect(e.hint).toBe('See --help.')
    expect(e.message).toBe(
      'Invalid training options: epochs: Too big: expected number to be <=1000 (received: 5000); name: Invalid input: expected string, received number (received: 7); ' +
        'tags: Invalid input: expected array, received object; Unrecognized key: "extra".',
    )
  })

  it('is INVALID_INPUT by default; a damaged file says so; long strings are shortened', () => {
    expect(thrown(() => parseOrThrow(z.string().max(3), 'abcd', 'name')).code).toBe('INVALID_INPUT')
    const damaged = thrown(() => parseOrThrow(Options, { epochs: 1 }, '/p/project.json', 'Restore it.', 'PROJECT_DAMAGED'))
    expect(damaged.message).toBe('/p/project.json is damaged: name: Invalid input: expected string, received undefined.')
    const long = thrown(() => parseOrThrow(z.string().max(3), 'x'.repeat(10_000), 'name'))
    expect(long.message).toContain(`(received: "${'x'.repeat(60)}…")`)
    expect(long.message.length).toBeLessThan(200)
  })
})

describe('one serializer for every boundary', () => {
  it("an example's error keeps its code and hint through serializeError and back", () => {
    const sent = serializeError(thrown(() => getExample('no-such')))
    expect(sent).toMatchObject({ name: 'AppError', code: 'INVALID_INPUT', message: expect.stringContaining('Unknown example "no-such"'), hint: expect.stringMatching(/^Pick one of fashion-mnist, /) })
    const back = deserializeError(sent)
    expect([back.code, back.message, back.hint]).toEqual([sent.code, sent.message, sent.hint])
  })

  it('a code this version does not know arrives as INTERNAL, keeping message and hint', () => {
    const e = deserializeError({ name: 'Error', code: 'ENOTACODE', message: 'odd', hint: 'h' } as unknown as SerializedError)
    expect([e.code, e.message, e.hint]).toEqual(['INTERNAL', 'odd', 'h'])
  })
})
