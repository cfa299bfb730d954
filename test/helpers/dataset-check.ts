import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import sharp from 'sharp'
import { expect } from 'vitest'
import { loadDatasetIndex, type DatasetIndex } from '../../src/main/services/datasets'

/** A seeded generator (mulberry32): the same seed gives the same images and the same kill moments. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** Writes `perClass` PNGs of random noise per class (every image different), `size` px square. */
export async function writePngs(dir: string, classes: string[], perClass: number, size: number, seed: number): Promise<number> {
  const rnd = seeded(seed)
  for (const c of classes) {
    mkdirSync(join(dir, c), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(size * size * 3)
      for (let k = 0; k < px.length; k++) px[k] = Math.floor(rnd() * 256)
      await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(join(dir, c, `${i}.png`))
    }
  }
  return classes.length * perClass
}

/** Every file and folder under `dir`, relative, sorted (folders end with /). */
export function listTree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) {
        out.push(relative(dir, p) + '/')
        walk(p)
      } else out.push(relative(dir, p))
    }
  }
  walk(dir)
  return out.sort()
}

/** Bytes of the regular files under `dir`. */
export function bytesUnder(dir: string): number {
  let n = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else n += statSync(p).size
    }
  }
  walk(dir)
  return n
}

/**
 * Asserts the project's dataset is consistent and holds nothing else: the index parses; every
 * chunk it names exists with exactly count x itemBytes bytes; every item points at its own slot
 * of a listed chunk and every slot is used once; source records name existing items; the images
 * in use have distinct contents and sources; dataset/ holds index.json and the listed chunks
 * only (no orphan chunk, no temporary file) unless `leftoversAllowed` (just after a kill). Returns
 * the index (null: nothing imported), the number of images in use and the leftovers found.
 */
export async function checkDataset(projectDir: string, opts: { leftoversAllowed?: boolean } = {}): Promise<{ idx: DatasetIndex | null; active: number; leftovers: string[] }> {
  const dataDir = join(projectDir, 'dataset')
  const idx = await loadDatasetIndex(projectDir)
  const onDisk = existsSync(join(dataDir, 'chunks')) ? readdirSync(join(dataDir, 'chunks')).sort() : []
  const named = new Set(idx?.chunks.map((c) => c.file) ?? [])
  const leftovers = [
    ...onDisk.filter((n) => !named.has(n)).map((n) => `dataset/chunks/${n}`),
    ...(existsSync(dataDir) ? readdirSync(dataDir).filter((n) => n !== 'chunks' && n !== 'index.json') : []).map((n) => `dataset/${n}`),
  ]
  if (opts.leftoversAllowed) {
    // Just after a kill: what the index names must still be whole; unnamed files may be there.
    if (!idx) return { idx: null, active: 0, leftovers }
  } else if (!idx) {
    expect(onDisk, 'chunk files without an index').toEqual([])
    if (existsSync(dataDir)) expect(readdirSync(dataDir).filter((n) => n !== 'chunks'), 'files in dataset/ without an index').toEqual([])
    return { idx: null, active: 0, leftovers }
  }
  if (!opts.leftoversAllowed) expect(leftovers, 'orphan chunks or temporary files in dataset/').toEqual([])
  const slots = new Map<string, number>()
  for (const c of idx.chunks) {
    expect(existsSync(join(dataDir, 'chunks', c.file)), `${c.file}, named by the index, exists`).toBe(true)
    expect(statSync(join(dataDir, 'chunks', c.file)).size, `size of ${c.file}`).toBe(c.count * idx.itemBytes)
    slots.set(c.file, c.count)
  }
  const used = new Set<string>()
  idx.items.forEach((it, i) => {
    expect(it.id).toBe(i)
    const file = `c${String(it.chunk).padStart(6, '0')}.bin`
    expect(slots.has(file), `item ${i} points at ${file}, which the index lists`).toBe(true)
    expect(it.slot).toBeLessThan(slots.get(file)!)
    const key = `${file}:${it.slot}`
    expect(used.has(key), `slot ${key} used twice`).toBe(false)
    used.add(key)
    expect(it.label).toBeLessThan(idx.classes.length)
  })
  expect(used.size, 'every chunk slot holds an item').toBe([...slots.values()].reduce((a, b) => a + b, 0))
  for (const [src, rec] of Object.entries(idx.files)) for (const id of rec.ids) expect(idx.items[id], `${src} names item ${id}`).toBeDefined()
  const active = idx.items.filter((it) => !it.stale && !it.excluded)
  expect(new Set(active.map((it) => it.hash)).size, 'no duplicate contents').toBe(active.length)
  expect(new Set(active.map((it) => it.src)).size, 'no duplicate sources').toBe(active.length)
  return { idx, active: active.length, leftovers }
}
