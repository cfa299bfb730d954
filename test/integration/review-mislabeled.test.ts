/**
 * Probably-mislabeled images on real photos with known corruption: 5 % of the training split's
 * labels flipped (seed 7) in projects of ../shared/data (see its README), then the review's list
 * is scored against the flipped images. The thresholds are the measured precision and recall
 * less a margin. Fails when the shared data is missing (it is what this test measures).
 */
import { describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { importDataset, loadDatasetIndex, setLabel } from '../../src/main/services/datasets'
import { reviewDataset } from '../../src/main/services/review'
import { mulberry32, seededPermutation } from '../../src/main/ml/training/rng'
import { runCli } from '../helpers/cli'

const DATA = process.env.CLASSIFIER_STUDIO_DATA ?? resolve(__dirname, '../../../shared/data')
const FLIP_SEED = 7
// Measured (seed 7): flowers 6 flipped, 63 listed, 6 of them flipped (precision 0.095, recall 1);
// cats vs dogs at 128 px 100 flipped, 291 listed, 72 flipped (precision 0.247, recall 0.72), 43 in the top 100.
const FLOWERS_MIN_PRECISION = 0.08
const CATS_MIN_PRECISION = 0.2
const CATS_MIN_RECALL = 0.65
const CATS_MIN_TOP100 = 35

/** A project of `source` at `size` px with 5 % of its training labels flipped; returns the flipped files. */
async function corruptedProject(source: string, size: number): Promise<{ dir: string; flipped: Set<string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'review-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'review', createdAt: now, updatedAt: now, settings: { inputSize: size, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  await importDataset(dir, source, { size })
  const idx = (await loadDatasetIndex(dir))!
  const train = idx.items.filter((it) => it.split === 'train')
  const n = Math.round(train.length * 0.05)
  const order = seededPermutation(train.length, FLIP_SEED)
  const r = mulberry32(FLIP_SEED)
  const k = idx.classes.length
  const flipped = new Set<string>()
  for (let i = 0; i < n; i++) {
    const it = train[order[i]]
    await setLabel(dir, [it.id], idx.classes[(it.label + 1 + Math.floor(r() * (k - 1))) % k])
    flipped.add(it.src)
  }
  return { dir, flipped }
}

function score(listed: string[], flipped: Set<string>) {
  const hits = listed.filter((f) => flipped.has(f)).length
  return { listed: listed.length, hits, precision: hits / Math.max(1, listed.length), recall: hits / flipped.size }
}

const missing = ['flowers-subset', 'cats-vs-dogs'].filter((d) => !existsSync(join(DATA, d)))
// The shared photos are not in the repository: without them the suite is counted as skipped, and says why.
if (missing.length) console.warn(`Skipping the mislabeled-review tests: ${missing.map((d) => join(DATA, d)).join(', ')} missing (set CLASSIFIER_STUDIO_DATA to the folder holding flowers-subset/ and cats-vs-dogs/).`)

describe.skipIf(missing.length > 0)('probably mislabeled: 5 % flipped training labels', () => {
  it('flowers-subset (159 photos, 5 classes, 224 px): the CLI lists every flipped image', async () => {
    const { dir, flipped } = await corruptedProject(join(DATA, 'flowers-subset'), 224)
    const res = await runCli(['review', dir, '--json'], { CLASSIFIER_STUDIO_HOME: await mkdtemp(join(tmpdir(), 'review-home-')) })
    expect(res.code, res.stderr).toBe(0)
    const list = res.json() as { file: string; label: string; suggested: string; confidence: number }[]
    for (const row of list) expect(Object.keys(row).sort()).toEqual(['confidence', 'file', 'label', 'suggested'])
    expect(list.map((r) => r.confidence)).toEqual(list.map((r) => r.confidence).sort((a, b) => a - b))
    const s = score(list.map((r) => r.file), flipped)
    console.log(`flowers-subset: ${flipped.size} flipped, ${s.listed} listed, ${s.hits} of them flipped: precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}`)
    expect(s.recall).toBe(1)
    expect(s.precision).toBeGreaterThanOrEqual(FLOWERS_MIN_PRECISION)
  }, 600_000)

  it('cats-vs-dogs (3,000 photos, 128 px): most flipped images are listed, with the suggested label their true one', async () => {
    const { dir, flipped } = await corruptedProject(join(DATA, 'cats-vs-dogs'), 128)
    const r = await reviewDataset(dir)
    const s = score(r.issues.map((i) => i.file), flipped)
    console.log(`cats-vs-dogs: ${flipped.size} flipped, ${s.listed} listed, ${s.hits} of them flipped: precision ${s.precision.toFixed(3)}, recall ${s.recall.toFixed(3)}; out-of-sample accuracy ${r.accuracy.toFixed(3)}, ${r.seconds.toFixed(1)} s`)
    expect(s.recall).toBeGreaterThanOrEqual(CATS_MIN_RECALL)
    expect(s.precision).toBeGreaterThanOrEqual(CATS_MIN_PRECISION)
    // The flipped images among the 100 most suspect are several times their 3 % share of the dataset.
    expect(score(r.issues.slice(0, 100).map((i) => i.file), flipped).hits).toBeGreaterThanOrEqual(CATS_MIN_TOP100)
    // Two classes: the suggestion of a listed flipped image is the folder it came from.
    for (const i of r.issues.filter((x) => flipped.has(x.file))) expect(i.file.includes(`/${i.suggested}/`)).toBe(true)
  }, 600_000)
})
