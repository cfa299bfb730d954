import { spawnSync } from 'node:child_process'
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { afterAll, describe, expect, it } from 'vitest'
import { zipStream } from '../../src/main/services/export/zip-writer'
import { extractZip, listZip } from '../../src/main/services/examples/zip'

/** The store-only zip writer behind the browser studio's export download. */
describe('zipStream (store-only zip writer)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cs-zipw-'))
  afterAll(() => rmSync(root, { recursive: true, force: true }))

  async function zip(files: { name: string; data: Buffer }[], name: string): Promise<string> {
    const src = join(root, `${name}-src`)
    mkdirSync(src, { recursive: true })
    for (const f of files) writeFileSync(join(src, f.name), f.data)
    const out = join(root, `${name}.zip`)
    await pipeline(zipStream(files.map((f) => ({ name: f.name, path: join(src, f.name) }))), createWriteStream(out))
    return out
  }

  const files = [
    { name: 'model.onnx', data: Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)) },
    { name: 'labels.json', data: Buffer.from('["circle","square"]') },
    { name: 'empty.txt', data: Buffer.alloc(0) },
    { name: 'README – ü.md', data: Buffer.from('# model card\n') },
  ]

  it('writes an archive the app’s reader, unzip and Python read back byte for byte', async () => {
    const archive = await zip(files, 'a')
    const entries = await listZip(archive)
    expect(entries.map((e) => [e.name, e.method, e.size])).toEqual(files.map((f) => [f.name, 0, f.data.length]))
    const dest = join(root, 'a-out')
    expect(await extractZip(archive, dest)).toEqual({ files: 4, bytes: files.reduce((a, f) => a + f.data.length, 0) })
    for (const f of files) expect(readFileSync(join(dest, f.name)).equals(f.data)).toBe(true)

    const unzip = spawnSync('unzip', ['-t', archive], { encoding: 'utf8' })
    if (!unzip.error) expect(unzip.stdout).toMatch(/No errors detected/)
    const py = spawnSync('python3', ['-c', 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(sorted(z.namelist()))', archive], { encoding: 'utf8' })
    if (!py.error) expect(py.status, py.stderr).toBe(0)
  })

  it('an empty export list is a valid empty archive; names that leave the folder are refused', async () => {
    const out = join(root, 'empty.zip')
    await pipeline(zipStream([]), createWriteStream(out))
    expect(readFileSync(out).length).toBe(22)
    expect(await listZip(out)).toEqual([])
    for (const name of ['../x', '/etc/passwd', 'a//b', '', './x']) expect(() => zipStream([{ name, path: join(root, 'x') }])).toThrow(/not a relative name/)
  })

  it('a file that disappears fails the stream (the download is cut short, nothing half-valid)', async () => {
    const src = join(root, 'gone')
    mkdirSync(src)
    writeFileSync(join(src, 'a.bin'), 'a')
    const stream = zipStream([{ name: 'a.bin', path: join(src, 'a.bin') }, { name: 'b.bin', path: join(src, 'b.bin') }])
    await expect(pipeline(stream, createWriteStream(join(root, 'gone.zip')))).rejects.toThrow()
    expect(readdirSync(src)).toEqual(['a.bin'])
  })
})
