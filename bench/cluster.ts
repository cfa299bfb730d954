/**
 * Training on a cluster, measured on this machine. Run: npx tsx bench/cluster.ts [--per-class N]
 * [--size S] [--model PRESET] [--epochs E] [--batch B]
 *
 * Makes a generated project (3 classes of noisy colour images, N per class, imported at S px),
 * exports one torchrun job (`job export`'s service) and trains it with
 * `python3 -m torch.distributed.run --standalone --nproc_per_node=W` for W = 1 and 2 CPU workers
 * (gloo, one thread each), then prints the global training images/s of each (median over the
 * epochs after the first, from the job's own metrics.jsonl) and the command that would use 8 GPUs.
 * The batch is per worker, so 2 workers train on twice the global batch (as torchrun jobs do).
 * Numbers are only meaningful on a quiet machine: other processes on the same cores slow the
 * workers unevenly, and every step waits for the slower one.
 *
 * Measured (the same job: fashion-mnist-cnn at 32x32x3, 480 training images, batch 32 per worker,
 * median of epochs 2-4) on a quiet 16-core machine with torch 2.11: 1 CPU worker 536 images/s,
 * 2 workers 1,032 (1.93x), 4 workers 1,633, 8 workers 3,443; one H200 GPU (nccl, mixed precision)
 * 6,800 (this small model is bound by reading the batches, not by the GPU). The shared 2-core
 * machine the tests run on was too loaded to measure.
 */
import * as tf from '@tensorflow/tfjs'
import { spawnSync } from 'node:child_process'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { importDataset } from '../src/main/services/datasets'
import { exportJob } from '../src/main/services/cluster/export-job'
import { writeColourImages } from '../test/integration/export-project'

const { values } = parseArgs({ options: { 'per-class': { type: 'string' }, size: { type: 'string' }, model: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, python: { type: 'string' } } })
const perClass = Number(values['per-class'] ?? 200)
const size = Number(values.size ?? 32)
const model = values.model ?? 'fashion-mnist-cnn'
const epochs = Number(values.epochs ?? 4)
const batch = Number(values.batch ?? 32)
const python = values.python ?? process.env.CLASSIFIER_STUDIO_PYTHON ?? '/usr/bin/python3'

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main(): Promise<void> {
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' })
  if (probe.status !== 0) throw new Error(`${python} has no torch: ${probe.stderr.trim().split('\n').pop()}`)
  await tf.setBackend('cpu')
  const root = await mkdtemp(join(tmpdir(), 'bench-cluster-'))
  try {
    const images = join(root, 'images')
    const project = join(root, 'project')
    await writeColourImages(images, perClass)
    await mkdir(project)
    const now = new Date().toISOString()
    await writeFile(join(project, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'bench-cluster', createdAt: now, updatedAt: now, settings: { inputSize: size, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
    await importDataset(project, images, { size, val: 0.2, seed: 1 })
    const job = join(root, 'job')
    const ex = await exportJob(project, { recipe: 'cnn', model, epochs, batchSize: batch }, { out: job })
    console.log(`torch ${probe.stdout.trim()}, ${availableParallelism()} cores; ${model} at ${size}x${size}x3, ${ex.images.train} training images, batch ${batch} per worker, ${epochs} epochs`)
    const rows: { workers: number; imagesPerSecond: number; seconds: number }[] = []
    for (const workers of [1, 2]) {
      const out = join(job, `out-${workers}`)
      const t0 = performance.now()
      const r = spawnSync(python, ['-m', 'torch.distributed.run', '--standalone', `--nproc_per_node=${workers}`, '--redirects=2', '--tee=2', join(job, 'train.py'), '--out', out, '--threads', '1'], { cwd: job, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } })
      if (r.status !== 0) throw new Error(`torchrun with ${workers} worker(s) failed:\n${(r.stdout + r.stderr).slice(-3000)}`)
      const seconds = (performance.now() - t0) / 1000
      const metrics = (await readFile(join(out, 'metrics.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { imagesPerSecond: number })
      rows.push({ workers, imagesPerSecond: median(metrics.slice(1).map((m) => m.imagesPerSecond)), seconds })
    }
    console.log('\n| workers (CPU, gloo) | training images/s (global) | wall time incl. start |')
    console.log('|---:|---:|---:|')
    for (const r of rows) console.log(`| ${r.workers} | ${r.imagesPerSecond.toFixed(0)} | ${r.seconds.toFixed(1)} s |`)
    console.log(`\nspeed-up with 2 workers: ${(rows[1].imagesPerSecond / rows[0].imagesPerSecond).toFixed(2)}x`)
    console.log(`\n8 GPUs on one machine (nccl, mixed precision): cd <job> && torchrun --standalone --nproc_per_node=8 train.py`)
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
