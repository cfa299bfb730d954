import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { extractZip, listZip } from '../../src/main/services/examples/zip'
import { AppError } from '../../src/shared/errors'

/** Archives are written by Python's zipfile (the reference writer), with stored and deflate entries. */
const PY = '/usr/bin/python3'
function pyZip(out: string, entries: { name: string; file?: string; data?: string; stored?: boolean; dir?: boolean }[]) {
  const script = `
import json, sys, zipfile
out, entries = sys.argv[1], json.loads(sys.argv[2])
with zipfile.ZipFile(out, 'w') as z:
    for e in entries:
        if e.get('dir'):
            z.writestr(zipfile.ZipInfo(e['name']), b'')
            continue
        data = open(e['file'], 'rb').read() if e.get('file') else e.get('data', '').encode()
        z.writestr(e['name'], data, compress_type=zipfile.ZIP_STORED if e.get('stored') else zipfile.ZIP_DEFLATED)
`
  execFileSync(PY, ['-c', script, out, JSON.stringify(entries)])
}

let tmp: string
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'examples-zip-'))
})
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true })
})

describe('zip extractor', () => {
  it('extracts stored and deflated entries byte for byte, with folders and empty files', async () => {
    const big = randomBytes(200_000)
    const text = Buffer.from('cat '.repeat(50_000))
    await writeFile(join(tmp, 'big.bin'), big)
    await writeFile(join(tmp, 'text.txt'), text)
    const zip = join(tmp, 'a.zip')
    pyZip(zip, [
      { name: 'root/', dir: true },
      { name: 'root/train/cats/big.bin', file: join(tmp, 'big.bin'), stored: true },
      { name: 'root/train/dogs/text.txt', file: join(tmp, 'text.txt') },
      { name: 'root/empty.txt', data: '' },
      { name: '__MACOSX/root/._big.bin', data: 'resource fork' },
    ])
    const entries = await listZip(zip)
    expect(entries.map((e) => [e.name, e.method])).toEqual([
      ['root/', 0],
      ['root/train/cats/big.bin', 0],
      ['root/train/dogs/text.txt', 8],
      ['root/empty.txt', 8],
      ['__MACOSX/root/._big.bin', 8],
    ])
    const progress: number[] = []
    const dest = join(tmp, 'out')
    const r = await extractZip(zip, dest, { onProgress: (p) => progress.push(p.done) })
    expect(r.files).toBe(3)
    expect(r.bytes).toBe(big.length + text.length)
    expect(Buffer.compare(await readFile(join(dest, 'root/train/cats/big.bin')), big)).toBe(0)
    expect(Buffer.compare(await readFile(join(dest, 'root/train/dogs/text.txt')), text)).toBe(0)
    expect((await readFile(join(dest, 'root/empty.txt'))).length).toBe(0)
    expect(existsSync(join(dest, '__MACOSX'))).toBe(false)
    expect(progress.at(-1)).toBe(3)
    // nothing but the destination is left next to it (the temp folder was renamed)
    expect((await readdir(tmp)).sort()).toEqual(['a.zip', 'big.bin', 'out', 'text.txt'])
  })

  it('refuses entries that would escape the target folder and keeps nothing', async () => {
    const zip = join(tmp, 'evil.zip')
    pyZip(zip, [
      { name: 'ok.txt', data: 'fine' },
      { name: '../evil.txt', data: 'gotcha' },
    ])
    const err = (await extractZip(zip, join(tmp, 'out')).catch((e: unknown) => e)) as AppError
    expect(err).toBeInstanceOf(AppError)
    expect(err.message).toContain('outside the target folder: "../evil.txt"')
    expect(existsSync(join(tmp, 'evil.txt'))).toBe(false)
    expect(existsSync(join(tmp, 'out'))).toBe(false)
    expect((await readdir(tmp)).filter((n) => n.startsWith('out'))).toEqual([])
  })

  it('detects a damaged entry by its CRC-32', async () => {
    const zip = join(tmp, 'd.zip')
    const data = Buffer.from('0123456789'.repeat(100))
    pyZip(zip, [{ name: 'x.txt', data: data.toString(), stored: true }])
    const bytes = await readFile(zip)
    const at = bytes.indexOf(data)
    bytes[at + 500] ^= 0xff
    await writeFile(zip, bytes)
    const err = (await extractZip(zip, join(tmp, 'out')).catch((e: unknown) => e)) as AppError
    expect(err.message).toMatch(/x\.txt fails its CRC-32/)
    expect(existsSync(join(tmp, 'out'))).toBe(false)
  })

  it('says clearly when a file is not a zip', async () => {
    await mkdir(join(tmp, 'd'))
    await writeFile(join(tmp, 'd', 'not.zip'), randomBytes(1000))
    const err = (await listZip(join(tmp, 'd', 'not.zip')).catch((e: unknown) => e)) as AppError
    expect(err.message).toMatch(/not a readable zip archive: no end-of-central-directory record/)
  })
})
