/**
 * Import benchmark. Run: npx tsx bench/import.ts [--skip-rss]
 * 1. cats-vs-dogs train (2000 JPEGs) to 160x160: importDataset (hash + decode + orient + resize + cache
 *    write, sharp thread pool over both cores) vs Pillow (decode, exif_transpose, RGB, resize) in one
 *    process, measured in the same run. Prints the ratio.
 * 2. Peak RSS of importing a generated 25,000-image folder (child process), and its unchanged re-import.
 */
import sharp from 'sharp'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir, availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importDataset } from '../src/main/services/datasets'
import { mulberry32 as rng } from '../src/main/ml/training/rng'

const here = fileURLToPath(import.meta.url)
const DATA = process.env.CLASSIFIER_STUDIO_DATA ?? resolve(here, '../../../shared/data')
const CATS = join(DATA, 'cats-vs-dogs', 'train')

async function newProject(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'bench-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(d, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'bench', createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return d
}

async function listImages(root: string): Promise<string[]> {
  const out: string[] = []
  for (const c of (await readdir(root)).sort()) for (const f of (await readdir(join(root, c))).sort()) out.push(join(root, c, f))
  return out
}

function pillow(size: number, files: string[], listFile: string): { n: number; seconds: number } {
  const r = spawnSync('/usr/bin/python3', [join(here, '..', 'import_pillow.py'), String(size), listFile], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  const [n, s] = r.stdout.trim().split(' ')
  if (Number(n) !== files.length) throw new Error('Pillow did not process every file')
  return { n: Number(n), seconds: Number(s) }
}

async function speed() {
  const files = await listImages(CATS)
  const listFile = join(await mkdtemp(join(tmpdir(), 'bench-list-')), 'files.txt')
  await writeFile(listFile, files.join('\n'))
  // Warm the page cache for both.
  pillow(160, files, listFile)
  const rounds = 3
  const ours: number[] = []
  const theirs: number[] = []
  for (let r = 0; r < rounds; r++) {
    const pl = pillow(160, files, listFile)
    theirs.push(pl.n / pl.seconds)
    const p = await newProject()
    const t0 = performance.now()
    const s = await importDataset(p, CATS, { size: 160 })
    const dt = (performance.now() - t0) / 1000
    if (s.total !== files.length) throw new Error(`imported ${s.total} of ${files.length}`)
    ours.push(files.length / dt)
    await rm(p, { recursive: true, force: true })
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
  const o = med(ours)
  const t = med(theirs)
  console.log(`cats-vs-dogs train, ${files.length} JPEGs -> 160x160 RGB (cores: ${availableParallelism()}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, sharp ${sharp.versions.sharp}/vips ${sharp.versions.vips})`)
  console.log(`  importDataset (full import incl. hashing + cache write): ${o.toFixed(0)} img/s  (rounds: ${ours.map((x) => x.toFixed(0)).join(', ')})`)
  console.log(`  Pillow single process (decode, exif_transpose, RGB, resize): ${t.toFixed(0)} img/s  (rounds: ${theirs.map((x) => x.toFixed(0)).join(', ')})`)
  console.log(`  ratio importDataset / Pillow: ${(o / t).toFixed(2)}x  (target >= 2x)`)
}

/** 25,000 JPEGs made by re-encoding random crops of the shared images (cached in /tmp). */
async function makeBig(dir: string, n: number) {
  const marker = join(dir, `.complete-${n}`)
  if (existsSync(marker)) return
  await rm(dir, { recursive: true, force: true })
  const src = [...(await listImages(CATS)), ...(await listImages(join(DATA, 'cats-vs-dogs', 'validation')))]
  const r = rng(1234)
  for (const c of ['cats', 'dogs']) await mkdir(join(dir, c), { recursive: true })
  let next = 0
  const worker = async () => {
    while (next < n) {
      const i = next++
      const f = src[i % src.length]
      const img = sharp(f)
      const m = await img.metadata()
      const w = Math.max(16, Math.floor(m.width! * (0.5 + r() * 0.5)))
      const h = Math.max(16, Math.floor(m.height! * (0.5 + r() * 0.5)))
      const left = Math.floor(r() * (m.width! - w + 1))
      const top = Math.floor(r() * (m.height! - h + 1))
      const out = await img.extract({ left, top, width: w, height: h }).jpeg({ quality: 80 + (i % 15) }).toBuffer()
      await writeFile(join(dir, f.includes('/cats/') ? 'cats' : 'dogs', `gen-${i}.jpg`), out)
    }
  }
  await Promise.all(Array.from({ length: 4 }, worker))
  await writeFile(marker, '')
}

async function child(dir: string) {
  const p = await newProject()
  let peak = 0
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50)
  const t0 = performance.now()
  const s = await importDataset(p, dir, {})
  const dt = (performance.now() - t0) / 1000
  const t1 = performance.now()
  const again = await importDataset(p, dir, {})
  const dt2 = (performance.now() - t1) / 1000
  clearInterval(timer)
  const maxRss = process.resourceUsage().maxRSS * 1024
  console.log(JSON.stringify({ total: s.total, skipped: s.skipped.length, seconds: dt, reimportSeconds: dt2, reimportUnchanged: again.unchanged, peakRssSampled: peak, maxRss }))
  await rm(p, { recursive: true, force: true })
}

async function rss() {
  const dir = join(tmpdir(), 'classifier-studio-bench-25k')
  const t0 = performance.now()
  await makeBig(dir, 25000)
  console.log(`25,000-image folder ready in ${((performance.now() - t0) / 1000).toFixed(0)} s (${dir})`)
  const r = spawnSync(process.execPath, [...process.execArgv, here, '--child', dir], { encoding: 'utf8', maxBuffer: 16 << 20 })
  if (r.status !== 0) throw new Error(r.stderr)
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!)
  console.log(`import of 25,000 JPEGs at 224x224 (default size): ${res.total} imported, ${res.skipped} skipped, ${res.seconds.toFixed(1)} s (${(res.total / res.seconds).toFixed(0)} img/s)`)
  console.log(`  peak RSS: ${(res.maxRss / 2 ** 20).toFixed(0)} MB (target < 500 MB)`)
  console.log(`  unchanged re-import: ${res.reimportSeconds.toFixed(2)} s (${res.reimportUnchanged} unchanged, nothing decoded)`)
}

const args = process.argv.slice(2)
if (args[0] === '--child') await child(args[1])
else {
  await speed()
  if (!args.includes('--skip-rss')) await rss()
}
