import { describe, it, expect } from 'vitest'
import sharp from 'sharp'
import { mkdir, mkdtemp, readdir, readFile, realpath, rename, symlink, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importDataset, loadDatasetIndex, batches, readItems, setExcluded, thumbnail, stratifiedSplit } from '../../src/main/services/datasets'
import type { ImportProgress } from '../../src/shared/datasets'
import { DatasetWriteError } from '../../src/main/services/datasets/cache'
import { translateError } from '../../src/shared/errors'
import { gz, idxBytes } from '../fixtures/datasets/make'

async function newProject(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ds-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(d, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'p', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return d
}

/** A folder-per-class source of distinct solid-colour PNGs: counts per class. */
async function makeFolder(counts: Record<string, number>, offset = 0): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'ds-src-'))
  let k = offset
  for (const [cls, n] of Object.entries(counts)) {
    await mkdir(join(root, cls), { recursive: true })
    for (let i = 0; i < n; i++, k++) {
      const png = await sharp({ create: { width: 12, height: 10, channels: 3, background: { r: k % 256, g: (k >> 8) % 256, b: 7 } } }).png().toBuffer()
      await writeFile(join(root, cls, `img${i}.png`), png)
    }
  }
  return root
}

describe('folder import: splits, re-import, batches', () => {
  it('splits each class by the requested shares, seeded and reproducible', async () => {
    const src = await makeFolder({ a: 40, b: 20, c: 10 })
    const p1 = await newProject()
    const s1 = await importDataset(p1, src, { size: 8, val: 0.25, test: 0.1, seed: 7 })
    expect(s1.classes).toEqual([{ name: 'a', count: 40 }, { name: 'b', count: 20 }, { name: 'c', count: 10 }])
    const idx = (await loadDatasetIndex(p1))!
    for (const [label, n] of [[0, 40], [1, 20], [2, 10]]) {
      const its = idx.items.filter((i) => i.label === label)
      expect(its.filter((i) => i.split === 'validation').length).toBe(Math.round(n * 0.25))
      expect(its.filter((i) => i.split === 'test').length).toBe(Math.round(n * 0.1))
    }
    const p2 = await newProject()
    await importDataset(p2, src, { size: 8, val: 0.25, test: 0.1, seed: 7 })
    const idx2 = (await loadDatasetIndex(p2))!
    expect(idx2.items.map((i) => [i.src, i.split])).toEqual(idx.items.map((i) => [i.src, i.split]))
    const p3 = await newProject()
    await importDataset(p3, src, { size: 8, val: 0.25, test: 0.1, seed: 8 })
    const idx3 = (await loadDatasetIndex(p3))!
    expect(idx3.items.map((i) => i.split)).not.toEqual(idx.items.map((i) => i.split))
    expect(s1.health.warnings.some((w) => w.startsWith('Classes are imbalanced: "a" has 40 images but "c" only 10 (4.0x)'))).toBe(true)
  })

  it('re-import of an unchanged folder decodes nothing and adds nothing; new files are added; splits stay', async () => {
    const src = await makeFolder({ cat: 10, dog: 10 })
    const p = await newProject()
    const first = await importDataset(p, src, { size: 8 })
    expect(first.added).toBe(20)
    const before = (await loadDatasetIndex(p))!
    const again = await importDataset(p, src, {})
    expect(again).toMatchObject({ added: 0, unchanged: 20, total: 20, skipped: [] })
    // Add 4 new files, and touch one old file without changing it.
    const extra = await sharp({ create: { width: 12, height: 10, channels: 3, background: { r: 1, g: 2, b: 250 } } }).png().toBuffer()
    for (let i = 0; i < 4; i++) await writeFile(join(src, 'dog', `new${i}.png`), await sharp(extra).modulate({ brightness: 0.5 + i * 0.1 }).png().toBuffer())
    await utimes(join(src, 'cat', 'img0.png'), new Date(), new Date(Date.now() + 5000))
    const third = await importDataset(p, src, {})
    expect(third).toMatchObject({ added: 4, unchanged: 20, total: 24 })
    const after = (await loadDatasetIndex(p))!
    expect(after.items.slice(0, 20).map((i) => i.split)).toEqual(before.items.map((i) => i.split))
    expect(third.classes).toEqual([{ name: 'cat', count: 10 }, { name: 'dog', count: 14 }])
    // The same images from another folder are not added twice (content hash).
    const copy = await mkdtemp(join(tmpdir(), 'ds-copy-'))
    await mkdir(join(copy, 'cat'))
    await writeFile(join(copy, 'cat', 'again.png'), await readFile(join(src, 'cat', 'img3.png')))
    const fourth = await importDataset(p, copy, {})
    expect(fourth.added).toBe(0)
    expect(fourth.skipped).toEqual([{ path: join(copy, 'cat', 'again.png'), reason: `already in the project: same content as ${join(src, 'cat', 'img3.png')}` }])
  })

  it('later imports must keep the stored settings', async () => {
    const src = await makeFolder({ a: 2, b: 2 })
    const p = await newProject()
    await importDataset(p, src, { size: 8 })
    await expect(importDataset(p, src, { size: 16 })).rejects.toThrow(/already stored with other settings: size 16 \(project uses 8\)/)
  })

  it('train/validation/test folders are kept as given; duplicates across them are reported as leakage', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ds-split-'))
    const img = (v: number) => sharp({ create: { width: 10, height: 10, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer()
    for (const [split, n] of [['train', 6], ['val', 2], ['test', 2]] as const)
      for (const cls of ['x', 'y']) {
        await mkdir(join(root, split, cls), { recursive: true })
        for (let i = 0; i < n; i++) await writeFile(join(root, split, cls, `${i}.png`), await img(split === 'train' ? i * 10 + (cls === 'x' ? 1 : 2) : split === 'val' ? 100 + i * 10 + (cls === 'x' ? 1 : 2) : 200 + i))
      }
    // Leak: a train image copied into test.
    await writeFile(join(root, 'test', 'x', 'leak.png'), await readFile(join(root, 'train', 'x', '0.png')))
    const p = await newProject()
    const s = await importDataset(p, root, { size: 8 })
    expect(s.splits).toEqual({ train: 12, validation: 4, test: 5 })
    expect(s.duplicates.crossSplit).toBe(1)
    expect(s.duplicates.examples[0].splits.sort()).toEqual(['test', 'train'])
    expect(s.health.warnings.some((w) => w.startsWith('1 images appear in more than one split'))).toBe(true)
    // test/x and test/y hold the same two images (200, 201): 2 more exact copies, same split.
    expect(s.duplicates.exact).toBe(3)
  })

  it('batches stream with a seeded shuffle: same seed+epoch same order, other epoch other order; pixels match readItems', async () => {
    const src = await makeFolder({ a: 30, b: 25 })
    const p = await newProject()
    await importDataset(p, src, { size: 8, val: 0.2 })
    const collect = async (seed: number, epoch: number) => {
      const ids: number[] = []
      const seen: { ids: Int32Array; x: Uint8Array; labels: Int32Array; shape: number[] }[] = []
      for await (const b of batches(p, 'train', { batchSize: 16, shuffle: true, seed, epoch })) {
        ids.push(...b.ids)
        seen.push(b)
      }
      return { ids, seen }
    }
    const a = await collect(3, 0)
    const b = await collect(3, 0)
    const c = await collect(3, 1)
    expect(a.ids).toEqual(b.ids)
    expect(c.ids).not.toEqual(a.ids)
    expect([...a.ids].sort((x, y) => x - y)).toEqual([...c.ids].sort((x, y) => x - y))
    expect(a.ids.length).toBe(44)
    expect(a.seen[0].shape).toEqual([16, 8, 8, 3])
    const direct = await readItems(p, a.seen[1].ids)
    expect(Array.from(direct.x)).toEqual(Array.from(a.seen[1].x))
    expect(Array.from(direct.labels)).toEqual(Array.from(a.seen[1].labels))
    // Excluding items removes them from batches.
    await setExcluded(p, a.ids.slice(0, 4), true)
    let n = 0
    for await (const bb of batches(p, 'train', { batchSize: 100 })) n += bb.ids.length
    expect(n).toBe(40)
    const png = await thumbnail(p, a.ids[0])
    expect((await sharp(png).metadata()).width).toBe(8)
  })

  it('cancelling mid-way keeps what was decoded consistent, and a re-run finishes the job', async () => {
    const src = await makeFolder({ a: 60, b: 60 })
    const p = await newProject()
    const ac = new AbortController()
    const seen: ImportProgress[] = []
    let decoded = 0
    await expect(
      importDataset(p, src, { size: 8 }, {
        signal: ac.signal,
        onProgress: (q) => {
          seen.push(q)
          if (q.phase === 'decode' && q.done > 0 && ++decoded >= 1) ac.abort()
        },
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' })
    const idx = (await loadDatasetIndex(p))!
    expect(idx.items.length).toBeGreaterThan(0)
    expect(idx.items.length).toBeLessThan(120)
    const chunkBytes = idx.chunks.reduce((s, c) => s + c.count, 0)
    expect(chunkBytes).toBe(idx.items.length)
    expect((await readdir(join(p, 'dataset', 'chunks'))).sort()).toEqual(idx.chunks.map((c) => c.file).sort())
    const done = await importDataset(p, src, {})
    expect(done.total).toBe(120)
    expect(done.unchanged).toBe(idx.items.length)
    expect(done.added).toBe(120 - idx.items.length)
    const progress = seen.filter((q) => q.phase === 'decode' && q.done > 0)
    expect(progress[0].total).toBe(120)
    expect(progress[0].rate).toBeGreaterThan(0)
  })
})

describe('IDX and CSV sources', () => {
  it('IDX (gz and plain, train/t10k, class-names file): pixels identical to the file, splits kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ds-idx-'))
    const n = 30
    const px = new Uint8Array(n * 9 * 8)
    for (let i = 0; i < px.length; i++) px[i] = (i * 37) % 256
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 3)
    await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gz(idxBytes([n, 9, 8], px)))
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), idxBytes([n], labels))
    await writeFile(join(dir, 't10k-images-idx3-ubyte'), idxBytes([3, 9, 8], px.subarray(0, 216)))
    await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gz(idxBytes([3], Uint8Array.from([2, 1, 0]))))
    await writeFile(join(dir, 'classes.txt'), 'zero\none\ntwo\n')
    const p = await newProject()
    const s = await importDataset(p, dir, { minSide: 4 })
    expect(s.kind).toBe('idx')
    expect(s.settings).toMatchObject({ inputSize: 9, channels: 1 })
    expect(s.splits).toEqual({ train: 30, validation: 0, test: 3 })
    expect(s.classes).toEqual([{ name: 'one', count: 11 }, { name: 'two', count: 11 }, { name: 'zero', count: 11 }])
    expect(s.duplicates.exact).toBeGreaterThan(0) // the t10k records copy train records
    expect(JSON.parse(await readFile(join(p, 'project.json'), 'utf8')).settings).toMatchObject({ inputSize: 9, channels: 1 })
  })

  it('IDX square records are stored byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ds-idx2-'))
    const n = 10
    const px = Uint8Array.from({ length: n * 64 }, (_, i) => (i * 7 + 3) % 256)
    await writeFile(join(dir, 'train-images-idx3-ubyte'), idxBytes([n, 8, 8], px))
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), idxBytes([n], Uint8Array.from({ length: n }, (_, i) => i % 2)))
    const p = await newProject()
    await importDataset(p, dir, {})
    const idx = (await loadDatasetIndex(p))!
    const { x } = await readItems(p, idx.items.map((i) => i.id))
    idx.items.forEach((it, k) => {
      const rec = Number(it.src.split('#')[1])
      expect(Array.from(x.subarray(k * 64, k * 64 + 64))).toEqual(Array.from(px.subarray(rec * 64, rec * 64 + 64)))
    })
  })

  it('CSV: labels with gaps stay as class names in numeric order; bad rows skipped with line numbers; --split', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ds-csv-'))
    const header = ['label', ...Array.from({ length: 64 }, (_, i) => `pixel${i + 1}`)].join(',')
    const rows: string[] = [header]
    const labels = [0, 2, 10, 24, 2, 0, 10, 24, 24]
    labels.forEach((l, r) => rows.push([l, ...Array.from({ length: 64 }, (_, i) => (i * 3 + r * 11) % 256)].join(',')))
    rows.push('5,1,2,3') // short row
    rows.push([3, ...Array.from({ length: 64 }, () => 300)].join(',')) // out of range
    await writeFile(join(dir, 'data.csv.gz'), gz(Buffer.from(rows.join('\r\n') + '\r\n')))
    const p = await newProject()
    const s = await importDataset(p, join(dir, 'data.csv.gz'), { split: 'test' })
    expect(s.classes.map((c) => c.name)).toEqual(['0', '2', '10', '24'])
    expect(s.classes.map((c) => c.count)).toEqual([2, 2, 2, 3])
    expect(s.splits).toEqual({ train: 0, validation: 0, test: 9 })
    expect(s.skipped).toEqual([
      { path: 'data.csv.gz line 11', reason: 'row has 4 columns, expected 65' },
      { path: 'data.csv.gz line 12', reason: 'pixel column 1 is "300", expected an integer 0..255' },
    ])
    const idx = (await loadDatasetIndex(p))!
    const first = idx.items.find((i) => i.src.endsWith('#2'))!
    const { x } = await readItems(p, [first.id])
    expect(Array.from(x)).toEqual(Array.from({ length: 64 }, (_, i) => (i * 3) % 256))
  })
})

describe('split helper', () => {
  it('depends on content and seed only, not on input order', () => {
    const items = Array.from({ length: 50 }, (_, i) => ({ label: i % 2, hash: `h${i}`, src: `s${i}` }))
    const a = stratifiedSplit(items, 0.2, 0.1, 1)
    const rev = [...items].reverse()
    const b = stratifiedSplit(rev, 0.2, 0.1, 1).reverse()
    expect(a).toEqual(b)
  })
})

describe('sources inside the project are refused by real path', () => {
  it('refuses a folder inside the project, directly or through a symbolic link from outside, and adds nothing', async () => {
    const p = await newProject()
    const src = await makeFolder({ cat: 2, dog: 2 })
    const inside = join(p, 'pictures')
    await rename(src, inside)
    await expect(importDataset(p, inside, { size: 8 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('inside the project folder') })
    // A link outside the project that points into it: `resolve` alone would call it outside.
    const outside = await mkdtemp(join(tmpdir(), 'ds-link-'))
    const link = join(outside, 'pics')
    await symlink(inside, link, 'dir')
    const err = await importDataset(p, link, { size: 8 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'INVALID_INPUT', hint: expect.stringContaining('outside the project') })
    expect((err as Error).message).toBe(`Cannot import ${link}: its real path ${await realpath(inside)} (through a symbolic link) is inside the project folder ${await realpath(p)}.`)
    // The project itself through a link is refused too.
    await symlink(p, join(outside, 'proj'), 'dir')
    await expect(importDataset(p, join(outside, 'proj'), { size: 8 })).rejects.toMatchObject({ code: 'INVALID_INPUT' })
    expect(await loadDatasetIndex(p)).toBeNull()
    // The same folder moved out of the project imports.
    await rename(inside, join(outside, 'moved'))
    expect((await importDataset(p, join(outside, 'moved'), { size: 8 })).added).toBe(4)
  })

  it('a failed index write outside an import (exclude on a full disk) is DISK_FULL naming the file', () => {
    const file = '/data/p/dataset/index.json'
    const e = translateError(new DatasetWriteError(file, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' })))
    expect(e).toMatchObject({ code: 'DISK_FULL', message: `The disk is full: could not write ${file} (ENOSPC).`, hint: expect.stringContaining('Free some space') })
  })

  it('a chunk file cut short is PROJECT_DAMAGED naming the file, not a raw error', async () => {
    const p = await newProject()
    await importDataset(p, await makeFolder({ a: 3, b: 3 }), { size: 8 })
    const idx = (await loadDatasetIndex(p))!
    const chunk = join(p, 'dataset', 'chunks', idx.chunks[0].file)
    await truncate(chunk, idx.itemBytes) // only the first item is left
    const err = await readItems(p, [idx.items.length - 1]).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'AppError', code: 'PROJECT_DAMAGED', message: expect.stringContaining(chunk), hint: expect.stringContaining('import the source folders again') })
  })
})
