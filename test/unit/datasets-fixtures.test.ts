import { describe, it, expect, beforeAll } from 'vitest'
import { createHash } from 'node:crypto'
import { lstat, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importDataset, loadDatasetIndex, readItems, decodeForModel } from '../../src/main/services/datasets'
import type { ImportSummary } from '../../src/shared/datasets'
import { pilAvailable, pilReference } from '../fixtures/datasets/pilref'
import { makeFixtureFolder, pattern, type FixtureSet } from '../fixtures/datasets/make'

async function newProject(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ds-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(d, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'fixtures', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return d
}

async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  const walk = async (dir: string) => {
    for (const n of await readdir(dir)) {
      const p = join(dir, n)
      const st = await lstat(p)
      if (st.isSymbolicLink()) out.set(p, `link ${st.mtimeMs}`)
      else if (st.isDirectory()) {
        out.set(p, 'dir')
        await walk(p)
      } else out.set(p, `${createHash('sha256').update(await readFile(p)).digest('hex')} ${st.size} ${st.mtimeMs}`)
    }
  }
  await walk(root)
  return out
}

describe('import of one named fixture per file kind (8x8 project, squash: no resampling)', () => {
  let fx: FixtureSet
  let project: string
  let summary: ImportSummary
  let before: Map<string, string>
  const pixels = new Map<string, Uint8Array>()
  const dims = new Map<string, [number, number]>()

  beforeAll(async () => {
    fx = await makeFixtureFolder()
    before = await snapshot(fx.root)
    project = await newProject()
    summary = await importDataset(project, fx.root, { size: 8, val: 0 })
    const idx = (await loadDatasetIndex(project))!
    const { x } = await readItems(project, idx.items.map((i) => i.id))
    for (const it of idx.items) {
      const name = it.src.split('/').pop()!
      pixels.set(name, x.subarray(it.id * 192, it.id * 192 + 192))
      dims.set(name, [it.w, it.h])
    }
  })

  const px = (name: string, x: number, y: number) => Array.from(pixels.get(name)!.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3))
  const near = (a: number[], b: number[], tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol)

  it('fixes the project settings on first import', async () => {
    const p = JSON.parse(await readFile(join(project, 'project.json'), 'utf8'))
    expect(p.settings).toEqual({ inputSize: 8, resizeMode: 'squash', background: '#ffffff', channels: 3 })
    expect(summary.settings.inputSize).toBe(8)
  })

  it('JPEG with EXIF orientation 6 is rotated upright (top red, bottom blue; original size 8x16)', () => {
    expect(dims.get('jpeg-exif-orientation-6.jpg')).toEqual([8, 16])
    for (let x = 1; x < 7; x++) {
      expect(near(px('jpeg-exif-orientation-6.jpg', x, 1), [255, 0, 0], 8)).toBe(true)
      expect(near(px('jpeg-exif-orientation-6.jpg', x, 6), [0, 0, 255], 8)).toBe(true)
    }
  })

  it.skipIf(!pilAvailable())('CMYK JPEG is colour-managed to sRGB like Pillow + LittleCMS does it', () => {
    const [ref] = pilReference([fx.files['cmyk.jpg']])
    const want = Array.from(ref.rgb!.subarray(4 * 8 * 3 + 12, 4 * 8 * 3 + 15))
    expect(near(px('cmyk.jpg', 4, 4), want, 6)).toBe(true)
    // ...and clearly not the naive CMYK -> RGB formula.
    expect(near(px('cmyk.jpg', 4, 4), ref.naiveMean, 6)).toBe(false)
  })

  it('16-bit PNG is reduced to 8 bits by its high byte', () => {
    for (let x = 0; x < 8; x++) expect(px('png-16bit.png', x, 3)).toEqual([128, 127, 255])
  })

  it('gray PNG becomes RGB with equal channels, exact values', () => {
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(px('gray.png', x, y)).toEqual([x * 30 + y, x * 30 + y, x * 30 + y])
  })

  it('palette PNG and 8-bit palette BMP give the palette colours exactly', () => {
    const pal = [[10, 20, 30], [250, 0, 0], [0, 250, 0], [90, 80, 70]]
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        expect(px('palette.png', x, y)).toEqual(pal[(x + y) % 4])
        expect(px('bmp-8-palette.bmp', x, y)).toEqual(pal[(x + y) % 4])
      }
  })

  it('alpha is composited on the project background (white)', () => {
    for (let x = 0; x < 8; x++) {
      const a = (x * 36) / 255
      const want = [200, 100, 50].map((c) => c * a + 255 * (1 - a))
      // libvips composites in 8-bit integer steps: within 1 of the exact value.
      px('rgba-alpha.png', x, 2).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1))
    }
    expect(px('rgba-alpha.png', 0, 0)).toEqual([255, 255, 255])
  })

  it('lossless WebP, TIFF, 24-bit and 32-bit BMP and a PNG named .jpg decode to the exact pattern', () => {
    const pat = Array.from(pattern())
    for (const n of ['lossless.webp', 'image.tiff', 'bmp-24.bmp', 'bmp-32-alpha.bmp', 'PNG-disguised-as.jpg']) expect(Array.from(pixels.get(n)!), n).toEqual(pat)
  })

  it('AVIF (when this sharp build can write it) decodes close to the pattern', () => {
    if (!pixels.has('lossless.avif')) return
    const got = pixels.get('lossless.avif')!
    const pat = pattern()
    let maxDiff = 0
    for (let i = 0; i < pat.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - pat[i]))
    expect(maxDiff).toBeLessThanOrEqual(4)
  })

  it('animated GIF: first frame only', () => {
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) expect(px('animated.gif', x, y)).toEqual([255, 0, 0])
  })

  it('unicode folder and file names import, class named by the folder', () => {
    const idx = summary.classes.map((c) => c.name)
    expect(idx).toContain('ünïcødé 猫')
    expect(pixels.has('ünïcødé-名前 🐱.png')).toBe(true)
    expect(Array.from(pixels.get('ünïcødé-名前 🐱.png')!)).toEqual(Array.from(pattern()))
  })

  it('skips every bad file with its path and a plain reason', () => {
    const reasons = new Map(summary.skipped.map((s) => [s.path, s.reason]))
    expect(reasons.get(fx.files['zero-byte.jpg'])).toBe('empty file (0 bytes)')
    expect(reasons.get(fx.files['truncated.jpg'])).toMatch(/^damaged: the JPEG data is truncated \(/)
    expect(reasons.get(fx.files['text-file-named.jpg'])).toBe('not an image: the file contains text')
    expect(reasons.get(fx.files['too-small.png'])).toBe('too small: 4x4 pixels; images need at least 8 pixels on each side')
    expect(reasons.get(fx.files['bomb.png'])).toBe('too large: 30000x30000 is 900 megapixels, over the 100-megapixel limit that guards against decompression bombs')
    expect(reasons.get(fx.files['.hidden.png'])).toBe('hidden file (name starts with a dot): not imported')
    expect(reasons.get(fx.files['loop-to-parent'])).toBe('symbolic link loop: it points back to . (skipped so the scan ends)')
    expect(reasons.get(fx.files['self-loop'])).toBe('symbolic link loop: the link points to itself in a circle')
    const imported = summary.total
    const images = ['jpeg-exif-orientation-6.jpg', 'cmyk.jpg', 'png-16bit.png', 'gray.png', 'palette.png', 'rgba-alpha.png', 'lossless.webp', 'animated.gif', 'image.tiff', 'bmp-24.bmp', 'bmp-32-alpha.bmp', 'bmp-8-palette.bmp', 'PNG-disguised-as.jpg', 'ünïcødé-名前 🐱.png']
    expect(imported).toBe(images.length + (pixels.has('lossless.avif') ? 1 : 0))
    expect(summary.skipped).toHaveLength(8)
  })

  it('leaves the originals untouched (bytes, sizes, mtimes) and writes nothing next to them', async () => {
    expect(await snapshot(fx.root)).toEqual(before)
  })

  it('decodeForModel gives the very pixels the import cached (prediction/export parity)', async () => {
    const settings = JSON.parse(await readFile(join(project, 'project.json'), 'utf8')).settings
    for (const n of ['jpeg-exif-orientation-6.jpg', 'cmyk.jpg', 'rgba-alpha.png', 'bmp-24.bmp', 'animated.gif']) {
      expect(Array.from(await decodeForModel(fx.files[n], settings)), n).toEqual(Array.from(pixels.get(n)!))
    }
  })

  it('gray projects get one channel; pad mode letterboxes with the background colour', async () => {
    const p2 = await newProject()
    const s = await importDataset(p2, fx.root, { size: 16, resize: 'pad', background: '#102030', val: 0 })
    expect(s.settings.resizeMode).toBe('pad')
    const idx = (await loadDatasetIndex(p2))!
    const jpg = idx.items.find((i) => i.src.endsWith('jpeg-exif-orientation-6.jpg'))!
    const { x } = await readItems(p2, [jpg.id])
    // Upright image is 8 wide x 16 tall: padded left and right with #102030.
    expect(Array.from(x.subarray(0, 3))).toEqual([0x10, 0x20, 0x30])
    expect(Array.from(x.subarray((8 * 16 + 15) * 3, (8 * 16 + 15) * 3 + 3))).toEqual([0x10, 0x20, 0x30])
    const gray = await decodeForModel(fx.files['gray.png'], { inputSize: 8, resizeMode: 'squash', background: '#ffffff', channels: 1 })
    expect(gray.length).toBe(64)
    expect(gray[3 * 8 + 2]).toBe(2 * 30 + 3)
  })
})
