/**
 * The one-click default (transfer learning from MobileNetV2), measured: where to cut the base and
 * how long to train, on the app's own engine (import service + runTraining, the function the
 * training process runs; wasm backend, frozen base on onnxruntime, head on cached features).
 *
 *   npx tsx bench/default-recipe.ts [--data ../shared/data] [--seeds 3] [--full] [--epochs 50]
 *                                   [--cuts full,block_12_add,...] [--base-weights FILE.h5]
 *                                   [--first-seed 42] [--only flowers|cats120] [--out bench/results/default-recipe.json]
 *   npx tsx bench/default-recipe.ts --summarize FILE.json...   (the table again, from saved rows)
 *
 * Data sets: the 5 flower classes (../shared/data/flowers-subset, 159 images, a seeded 80/20
 * split per seed) and a 120-image cats-vs-dogs subset (the first 60 cats and 60 dogs of
 * cats-vs-dogs/train, by name, linked from a temporary folder, 80/20 split per seed); with
 * --full also cats vs dogs 2,000/1,000 (its own train/validation folders, one run).
 * For every cut a run trains the head for --epochs epochs without early stopping (the seed
 * fixed, so a shorter or early-stopped run follows the same epochs), and from its history:
 *   as-is  = the old default: the whole base, 10 epochs, the best-val_loss checkpoint (what
 *            evaluate/predict/export use), i.e. val accuracy at the best val_loss of epochs 1-10;
 *   auto   = this cut with the new schedule (recipes.ts autoSchedule: epochs from the training
 *            set size, early stopping on val_loss with restore-best), simulated on the history;
 *   max    = the best val accuracy of any epoch (an upper bound, for reference only).
 * Project folders are made under the OS temp folder and removed; the images are never copied.
 */
import * as tf from '@tensorflow/tfjs'
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { initBackend } from '../src/main/ml/backend'
import { loadBaseWeights } from '../src/main/ml/training/base-weights'
import { runTraining } from '../src/main/ml/training/train'
import { autoSchedule } from '../src/main/ml/training/recipes'
import { importDataset } from '../src/main/services/datasets'
import { projectDataSource } from '../src/main/services/training/project-data'
import type { EpochMetrics } from '../src/shared/training'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}
const DATA = resolve(opt('data', '../shared/data'))
const SEEDS = Number(opt('seeds', '3'))
const EPOCHS = Number(opt('epochs', '50'))
const FULL = args.includes('--full')
const ONLY = opt('only', '')
const FIRST_SEED = Number(opt('first-seed', '42'))
const BASE_WEIGHTS = opt('base-weights', '') || undefined
const OUT = opt('out', 'bench/results/default-recipe.json')
const CUTS = opt('cuts', 'full,block_16_project_BN,block_13_expand_relu,block_12_add,block_10_project_BN,block_10_expand_relu').split(',')

interface Row {
  dataset: string
  seed: number
  cut: string
  train: number
  val: number
  asIs: number | null
  at10: number | null
  auto: number | null
  autoEpoch: number
  autoEpochs: number
  autoStopped: boolean
  max: number
  seconds: number
  /** [val_loss, val_accuracy] per epoch. */
  history: [number | null, number | null][]
}

/** Val accuracy at the best val_loss (first minimum, as the checkpoint callback keeps it) among `h`. */
function bestByLoss(h: EpochMetrics[]): EpochMetrics | null {
  let b: EpochMetrics | null = null
  for (const m of h) if (m.valLoss != null && (b == null || m.valLoss < b.valLoss!)) b = m
  return b
}

/** Early stopping on val_loss (minDelta 0, restore best) over a recorded history, as the engine's callback. */
function simulateEarlyStop(h: EpochMetrics[], epochs: number, patience: number): { best: EpochMetrics | null; stoppedAt: number; stopped: boolean } {
  let best: EpochMetrics | null = null
  let wait = 0
  for (const m of h.slice(0, epochs)) {
    if (best == null || m.valLoss! < best.valLoss!) {
      best = m
      wait = 0
    } else if (++wait >= patience) return { best, stoppedAt: m.epoch, stopped: true }
  }
  return { best, stoppedAt: Math.min(epochs, h.length), stopped: false }
}

async function project(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `cs-bench-${name}-`))
  const now = new Date().toISOString()
  await mkdir(join(dir, 'runs'))
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name, createdAt: now, updatedAt: now, settings: { inputSize: 224, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  return dir
}

/** A folder of links to the first `n` images (by name) of each class folder of `src`. */
async function subsetLinks(src: string, n: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-bench-subset-'))
  for (const cls of (await readdir(src)).sort()) {
    await mkdir(join(dir, cls))
    const files = (await readdir(join(src, cls))).sort().slice(0, n)
    for (const f of files) await symlink(join(src, cls, f), join(dir, cls, f))
  }
  return dir
}

const rows: Row[] = []
const pct = (x: number | null) => (x == null ? '-' : `${(100 * x).toFixed(1)}`)

async function measure(dataset: string, source: string, seed: number, val: number | undefined): Promise<void> {
  const dir = await project(dataset)
  try {
    await importDataset(dir, source, { size: 224, seed, ...(val !== undefined ? { val } : {}) })
    for (const variant of CUTS) {
      // "CUT@keras": the offline weights with Keras's MobileNetV2 preprocessing (x/127.5 - 1, what
      // ImageNet blocks 0-10 were trained with) instead of x/255 (what nsfwjs retrained 11-16 with).
      const [cut, pre] = variant.split('@')
      const data = await projectDataSource(dir)
      const deps = { data, ...(pre === 'keras' ? { loadBaseWeights: async (...a: Parameters<typeof loadBaseWeights>) => `${await loadBaseWeights(...a)}+keras-preprocess` } : {}) }
      const t0 = performance.now()
      const r = await runTraining(dir, { baseCut: cut, epochs: EPOCHS, earlyStop: false, checkpointMonitor: 'val_loss', seed: 42, ...(BASE_WEIGHTS ? { baseWeights: BASE_WEIGHTS } : {}) }, { deps })
      const h = r.epochs
      const { readFile } = await import('node:fs/promises')
      const meta = JSON.parse(await readFile(join(dir, 'runs', r.runId, 'config.json'), 'utf8').catch(() => '{}')) as { options?: { baseCut?: string } }
      const counts = { train: (await data.labels('train')).length, val: (await data.labels('validation')).length }
      const sched = autoSchedule(counts.train, 32)
      const es = simulateEarlyStop(h, sched.epochs, sched.patience)
      const row: Row = {
        dataset,
        seed,
        cut: `${meta.options?.baseCut ?? cut}${pre ? `@${pre}` : ''}`,
        train: counts.train,
        val: counts.val,
        asIs: bestByLoss(h.slice(0, 10))?.valAccuracy ?? null,
        at10: h[9]?.valAccuracy ?? null,
        auto: es.best?.valAccuracy ?? null,
        autoEpoch: es.best?.epoch ?? 0,
        autoEpochs: es.stoppedAt,
        autoStopped: es.stopped,
        max: Math.max(...h.map((m) => m.valAccuracy ?? 0)),
        seconds: (performance.now() - t0) / 1000,
        history: h.map((m) => [m.valLoss, m.valAccuracy]),
      }
      rows.push(row)
      console.log(`${dataset} seed ${seed} cut ${variant.padEnd(28)} train ${row.train} val ${row.val}: best-of-10 ${pct(row.asIs)}  epoch10 ${pct(row.at10)}  auto ${pct(row.auto)} (best epoch ${row.autoEpoch}, ran ${row.autoEpochs}/${sched.epochs}${es.stopped ? ', stopped early' : ''})  max ${pct(row.max)}  [${row.seconds.toFixed(0)} s]`)
      await mkdir(join(OUT, '..'), { recursive: true })
      await writeFile(OUT, JSON.stringify({ command: `npx tsx bench/default-recipe.ts ${args.join(' ')}`.trim(), epochs: EPOCHS, rows }, null, 2) + '\n')
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Mean (and sample sd) of the schedules per data set and cut, from rows (recomputed from each history with the current autoSchedule). */
function summarize(all: Row[]): void {
  console.log('\nmean validation accuracy (%) over split seeds: old default (10 epochs, best val_loss) | new schedule (autoSchedule + early stopping) | best epoch of 50')
  const keys = [...new Set(all.map((r) => `${r.dataset}\u0000${r.cut}`))].sort()
  for (const k of keys) {
    const [d, c] = k.split('\u0000')
    const rs = all.filter((r) => r.dataset === d && r.cut === c)
    const hist = (r: Row): EpochMetrics[] => r.history.map(([valLoss, valAccuracy], i) => ({ epoch: i + 1, valLoss, valAccuracy, loss: 0, accuracy: 0, lr: 0, seconds: 0, imagesPerSecond: 0 }))
    const old = rs.map((r) => bestByLoss(hist(r).slice(0, 10))?.valAccuracy ?? 0)
    const auto = rs.map((r) => {
      const s = autoSchedule(r.train, 32)
      return simulateEarlyStop(hist(r), s.epochs, s.patience).best?.valAccuracy ?? 0
    })
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length
    const sd = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / Math.max(1, v.length - 1))
    console.log(`${d.padEnd(15)} ${c.padEnd(28)} n=${rs.length}  ${pct(mean(old))} | ${pct(mean(auto))} (sd ${pct(sd(auto))}) | ${pct(mean(rs.map((r) => r.max)))}`)
  }
}

async function main(): Promise<void> {
  const files = args.includes('--summarize') ? args.slice(args.indexOf('--summarize') + 1).filter((a) => !a.startsWith('--')) : null
  if (files) {
    const { readFile } = await import('node:fs/promises')
    for (const f of files) rows.push(...(JSON.parse(await readFile(f, 'utf8')) as { rows: Row[] }).rows)
    summarize(rows)
    return
  }
  const b = await initBackend('auto')
  console.log(`backend ${b.name} (${b.reason}); tf ${tf.version.tfjs}; ${EPOCHS} epochs per cut; cuts ${CUTS.join(', ')}`)
  const links = await subsetLinks(join(DATA, 'cats-vs-dogs', 'train'), 60)
  try {
    for (let s = 0; s < SEEDS; s++) {
      const seed = FIRST_SEED + s
      if (!ONLY || ONLY === 'flowers') await measure('flowers', join(DATA, 'flowers-subset'), seed, 0.2)
      if (!ONLY || ONLY === 'cats120') await measure('cats-dogs-120', links, seed, 0.2)
    }
    if (FULL) await measure('cats-dogs-full', join(DATA, 'cats-vs-dogs'), 42, undefined)
  } finally {
    await rm(links, { recursive: true, force: true })
  }
  summarize(rows)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
