/** Imports of the real datasets in /work/shared/data (see its README). Skipped when it is absent. */
import { describe, it, expect } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { importDataset, loadDatasetIndex, readItems } from '../../src/main/services/datasets'
import type { ImportProgress } from '../../src/shared/datasets'
import { pilAvailable, pilReference } from '../fixtures/datasets/pilref'

const DATA = process.env.CLASSIFIER_STUDIO_DATA ?? resolve(__dirname, '../../../shared/data')
const has = (p: string) => existsSync(join(DATA, p))

async function newProject(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ds-int-'))
  const now = new Date().toISOString()
  await writeFile(join(d, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'int', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return d
}

describe('shared datasets', () => {
  it.skipIf(!has('cats-vs-dogs'))('cats-vs-dogs: train/validation kept as given (2000/1000), a re-import decodes nothing again', async () => {
    const p = await newProject()
    const s = await importDataset(p, join(DATA, 'cats-vs-dogs'), { size: 32 })
    expect(s.classes).toEqual([{ name: 'cats', count: 1500 }, { name: 'dogs', count: 1500 }])
    expect(s.splits).toEqual({ train: 2000, validation: 1000, test: 0 })
    expect(s.total).toBe(3000)
    expect(s.skipped.map((k) => k.path.split('/').pop()).sort()).toEqual(['MD5SUMS', 'SOURCE.md'])
    expect(s.duplicates.exact).toBe(0) // SOURCE.md: no duplicate files
    const decode: ImportProgress[] = []
    const again = await importDataset(p, join(DATA, 'cats-vs-dogs'), {}, { onProgress: (e) => e.phase === 'decode' && decode.push(e) })
    expect(again).toMatchObject({ added: 0, unchanged: 3000 })
    // The decode phase had no file to read: every image was recognised by its size and mtime.
    expect(decode.length).toBeGreaterThan(0)
    expect(decode.filter((e) => e.total > 0)).toEqual([])
  })

  it.skipIf(!has('fashion-mnist'))('Fashion-MNIST IDX: 60000/10000, 10 classes, pixels identical to the file', async () => {
    const p = await newProject()
    const s = await importDataset(p, join(DATA, 'fashion-mnist'), {})
    expect(s.splits).toEqual({ train: 60000, validation: 0, test: 10000 })
    expect(s.classes).toEqual(Array.from({ length: 10 }, (_, i) => ({ name: String(i), count: 7000 })))
    expect(s.settings).toEqual({ inputSize: 28, resizeMode: 'squash', background: '#ffffff', channels: 1 })
    const idx = (await loadDatasetIndex(p))!
    for (const [file, labelsFile, n] of [['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 60000], ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz', 10000]] as const) {
      const raw = gunzipSync(await readFile(join(DATA, 'fashion-mnist', file)))
      const labels = gunzipSync(await readFile(join(DATA, 'fashion-mnist', labelsFile)))
      const items = idx.items.filter((it) => it.src.startsWith(join(DATA, 'fashion-mnist', file) + '#'))
      expect(items).toHaveLength(n)
      for (let at = 0; at < items.length; at += 10000) {
        const part = items.slice(at, at + 10000)
        const { x, labels: got } = await readItems(p, part.map((i) => i.id))
        part.forEach((it, k) => {
          const rec = Number(it.src.split('#')[1])
          expect(Buffer.compare(Buffer.from(x.subarray(k * 784, k * 784 + 784)), raw.subarray(16 + rec * 784, 16 + rec * 784 + 784))).toBe(0)
          expect(Number(idx.classes[got[k]])).toBe(labels[8 + rec])
        })
      }
    }
  })

  it.skipIf(!has('sign-mnist'))('sign-MNIST CSV: 27455/7172, 24 classes named by their labels (no 9)', async () => {
    const p = await newProject()
    const s = await importDataset(p, join(DATA, 'sign-mnist'), {})
    expect(s.kind).toBe('csv')
    expect(s.splits).toEqual({ train: 27455, validation: 0, test: 7172 })
    expect(s.classes.map((c) => c.name)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20', '21', '22', '23', '24'])
    const perClass = Object.fromEntries(s.health.perClass.map((c) => [c.name, [c.train, c.test]]))
    // Counts from the dataset's SOURCE.md.
    expect(perClass['0']).toEqual([1126, 331])
    expect(perClass['24']).toEqual([1118, 332])
    expect(s.skipped).toEqual([])
    expect(s.settings).toMatchObject({ inputSize: 28, channels: 1 })
  })

  it.skipIf(!has('flowers-subset') || !pilAvailable())('flowers: ICC profiles (Adobe RGB among them) converted to sRGB like Pillow + LittleCMS', async () => {
    const p = await newProject()
    const s = await importDataset(p, join(DATA, 'flowers-subset'), { size: 64 })
    expect(s.total).toBe(159)
    const idx = (await loadDatasetIndex(p))!
    const refs = pilReference(idx.items.map((i) => i.src))
    const { x } = await readItems(p, idx.items.map((i) => i.id))
    let iccChecked = 0
    let wideGamutMattered = 0
    idx.items.forEach((it, k) => {
      const mean = [0, 0, 0]
      for (let i = 0; i < 64 * 64; i++) for (let c = 0; c < 3; c++) mean[c] += x[(k * 64 * 64 + i) * 3 + c] / (64 * 64)
      const ref = refs[k]
      expect([it.w, it.h]).toEqual([ref.w, ref.h])
      const dCms = Math.max(...mean.map((m, c) => Math.abs(m - ref.mean[c])))
      expect(dCms, it.src).toBeLessThan(2.5)
      if (ref.icc) {
        iccChecked++
        const dNaive = Math.max(...mean.map((m, c) => Math.abs(m - ref.naiveMean[c])))
        if (dNaive > 3) {
          wideGamutMattered++
          expect(dCms).toBeLessThan(dNaive)
        }
      }
    })
    expect(iccChecked).toBe(84) // SOURCE.md: 84 of 159 carry a profile
    expect(wideGamutMattered).toBeGreaterThanOrEqual(5) // the Adobe RGB ones shift visibly
  })
})
