import { describe, it, expect } from 'vitest'
import sharp from 'sharp'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importDataset, loadDatasetIndex, readItems } from '../../src/main/services/datasets'
import { naturalCompare } from '../../src/main/services/datasets/scan'
import { mulberry32 } from '../../src/main/ml/training/rng'

async function newProject(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ds-pool-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(d, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'p', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return d
}

/** Noise JPEGs and PNGs of assorted sizes (some EXIF-rotated), one text file and two files of the same content. */
async function makeMixedFolder(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ds-pool-src-'))
  const r = mulberry32(19)
  for (const cls of ['cats', 'dogs', 'fish']) {
    await mkdir(join(root, cls))
    for (let i = 0; i < 14; i++) {
      const w = 20 + Math.floor(r() * 300)
      const h = 20 + Math.floor(r() * 300)
      const px = Buffer.from(Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)))
      const img = sharp(px, { raw: { width: w, height: h, channels: 3 } })
      const file = i % 3 === 0 ? await img.png().toBuffer() : await img.jpeg({ quality: 85 }).withMetadata({ orientation: i % 5 === 1 ? 6 : 1 }).toBuffer()
      await writeFile(join(root, cls, `${i}.${i % 3 === 0 ? 'png' : 'jpg'}`), file)
    }
  }
  await writeFile(join(root, 'dogs', 'notes.jpg'), 'not an image, just text\n')
  await writeFile(join(root, 'fish', 'copy.jpg'), await sharp({ create: { width: 30, height: 30, channels: 3, background: '#336699' } }).jpeg().toBuffer())
  await writeFile(join(root, 'cats', 'copy.jpg'), await sharp({ create: { width: 30, height: 30, channels: 3, background: '#336699' } }).jpeg().toBuffer())
  return root
}

/** Everything an import decides, without timings or chunk placement (which follow completion order). */
async function imported(project: string) {
  const idx = (await loadDatasetIndex(project))!
  const items = idx.items.map(({ src, label, split, hash, w, h, stale, excluded }) => ({ src, label, split, hash, w, h, stale, excluded }))
  const { x } = await readItems(project, idx.items.map((it) => it.id))
  return { items, classes: idx.classes, files: idx.files, skipped: idx.lastSkipped, pixels: Buffer.from(x).toString('base64') }
}

describe('folder import with several files in flight', () => {
  it('gives the same index, order, labels, splits and pixels with 1 and with 5 files in flight', async () => {
    const src = await makeMixedFolder()
    const runs = []
    for (const concurrency of [1, 5]) {
      const p = await newProject()
      const s = await importDataset(p, src, { size: 32, val: 0.2 }, { concurrency })
      runs.push({ summary: { ...s, seconds: 0 }, ...(await imported(p)) })
    }
    expect(runs[0].summary.added).toBe(44)
    expect(runs[0].summary.skipped.map((k) => k.reason.split(':')[0])).toEqual(['not an image'])
    expect(runs[0].items.map((it) => it.src)).toEqual(runs[0].items.map((it) => it.src).sort(naturalCompare))
    expect(runs[1]).toEqual(runs[0])
  })

  it('a cancelled pooled import keeps complete items equal to a serial import, and a re-run finishes it', async () => {
    const src = await makeMixedFolder()
    const serial = await newProject()
    await importDataset(serial, src, { size: 32 }, { concurrency: 1 })
    const p = await newProject()
    const ac = new AbortController()
    const run = importDataset(p, src, { size: 32 }, { concurrency: 4, signal: ac.signal, onProgress: (q) => q.phase === 'decode' && q.done > 0 && ac.abort() })
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' })
    const part = await imported(p)
    const full = await imported(serial)
    expect(part.items.length).toBeGreaterThan(0)
    expect(part.items.length).toBeLessThan(full.items.length)
    const bytes = 32 * 32 * 3
    const partPx = Buffer.from(part.pixels, 'base64')
    const fullPx = Buffer.from(full.pixels, 'base64')
    part.items.forEach((it, i) => {
      const j = full.items.findIndex((f) => f.src === it.src)
      expect(partPx.subarray(i * bytes, (i + 1) * bytes).equals(fullPx.subarray(j * bytes, (j + 1) * bytes))).toBe(true)
    })
    const done = await importDataset(p, src, {}, { concurrency: 4 })
    expect(done.added + done.unchanged).toBe(full.items.length)
  })
})
