import { mkdtempSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { makeDirs } from '../../src/main/platform/make-dirs'

describe('makeDirs', () => {
  const root = mkdtempSync(join(tmpdir(), 'cs-mkdirs-'))

  it('creates every missing level and accepts an existing folder', async () => {
    const deep = join(root, 'a', 'b', 'c')
    await makeDirs(deep)
    expect(statSync(deep).isDirectory()).toBe(true)
    await makeDirs(deep)
  })

  it('names a file in the way as ENOTDIR', async () => {
    writeFileSync(join(root, 'afile.txt'), 'x')
    await expect(makeDirs(join(root, 'afile.txt', 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' })
    expect(existsSync(join(root, 'afile.txt', 'sub'))).toBe(false)
  })

  // Node 20's mkdir(..., {recursive: true}) never settles here; this one must answer.
  it.skipIf(!existsSync('/proc/self'))('answers under /proc instead of hanging', async () => {
    const err = await makeDirs('/proc/Fuzz A/runs').then(() => null, (e: NodeJS.ErrnoException) => e)
    expect(err?.code).toMatch(/^E[A-Z]+$/)
  })
})
