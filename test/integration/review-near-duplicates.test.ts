/**
 * Near-duplicates on real photos: copies of flowers-subset images (../shared/data, see its README)
 * resized to half, recompressed at JPEG q=60 and cropped by 5 % of their area are planted in a
 * temp folder beside the originals; every copy must pair with its original and no two different
 * originals may pair. Fails when the shared data is missing (it is what this test measures).
 */
import { beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { importDataset, nearDuplicates, NEAR_DUPLICATE_MAX_DISTANCE } from '../../src/main/services/datasets'
import { seededPermutation } from '../../src/main/ml/training/rng'

const DATA = process.env.CLASSIFIER_STUDIO_DATA ?? resolve(__dirname, '../../../shared/data')
const FLOWERS = join(DATA, 'flowers-subset')
const PLANTED = 10

/** The three kinds of copy, each written as a new JPEG. */
const variants: Record<string, (file: string, w: number, h: number) => Promise<Buffer>> = {
  resized: (f, w) => sharp(f).resize(Math.round(w / 2)).jpeg({ quality: 90 }).toBuffer(),
  q60: (f) => sharp(f).jpeg({ quality: 60 }).toBuffer(),
  cropped: (f, w, h) => {
    const side = Math.sqrt(0.95)
    return sharp(f).extract({ left: Math.round((w * (1 - side)) / 2), top: Math.round((h * (1 - side)) / 2), width: Math.round(w * side), height: Math.round(h * side) }).jpeg({ quality: 90 }).toBuffer()
  },
}

/** The original a file came from: its name without the planted suffix. */
const origin = (src: string) => basename(src).replace(/__(resized|q60|cropped)\.jpg$/, '.jpg')

// The shared photos are not in the repository: without them the suite is counted as skipped, and says why.
if (!existsSync(FLOWERS)) console.warn(`Skipping the near-duplicate tests: ${FLOWERS} missing (set CLASSIFIER_STUDIO_DATA to the folder holding flowers-subset/).`)

describe.skipIf(!existsSync(FLOWERS))('near-duplicates (perceptual hash) on flowers-subset', () => {
  let root = ''
  const planted: string[] = []

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'near-dup-src-'))
    const files: string[] = []
    for (const c of (await readdir(FLOWERS, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
      await mkdir(join(root, c))
      for (const f of (await readdir(join(FLOWERS, c))).sort()) {
        await copyFile(join(FLOWERS, c, f), join(root, c, f))
        files.push(join(c, f))
      }
    }
    const pick = Array.from(seededPermutation(files.length, 11).subarray(0, PLANTED), (i) => files[i])
    for (const rel of pick) {
      const file = join(root, rel)
      const { width, height } = await sharp(file).metadata()
      for (const [name, make] of Object.entries(variants)) {
        const out = file.replace(/\.jpg$/, `__${name}.jpg`)
        await writeFile(out, await make(file, width!, height!))
        planted.push(basename(out))
      }
    }
  })

  it('pairs every planted copy with its original and no two different originals', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'near-dup-proj-'))
    const now = new Date().toISOString()
    await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'nd', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
    const s = await importDataset(dir, root, { size: 224, seed: 3 })
    expect(s.total).toBe(159 + PLANTED * 3)
    const r = await nearDuplicates(dir)
    expect(r.threshold).toBe(NEAR_DUPLICATE_MAX_DISTANCE)
    expect(r.withinSplit + r.crossSplit).toBe(r.pairs.length) // all listed (under the list's cap)
    const wrong = r.pairs.filter((p) => origin(p.a.src) !== origin(p.b.src))
    expect(wrong).toEqual([])
    for (const copy of planted) expect(r.pairs.some((p) => [p.a.src, p.b.src].some((s) => basename(s) === copy) && [p.a.src, p.b.src].some((s) => basename(s) === origin(copy)))).toBe(true)
    for (const p of r.pairs) expect(p.cosine).toBeGreaterThanOrEqual(r.minCosine)
    const dist = r.pairs.map((p) => p.distance)
    console.log(`near-duplicates: ${r.pairs.length} pairs (${r.withinSplit} within a split, ${r.crossSplit} across), distances ${Math.min(...dist)}-${Math.max(...dist)} bits, lowest cosine ${Math.min(...r.pairs.map((p) => p.cosine)).toFixed(3)}, ${r.seconds.toFixed(1)} s`)
    // The hashes are cached: a second look costs no decoding.
    const again = await nearDuplicates(dir)
    expect(again.pairs).toEqual(r.pairs)
  })
})
