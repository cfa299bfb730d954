/**
 * Issue 18: a project handed to PyTorch distributed and brought back. A tiny project (24 generated
 * 32 px images, 3 classes) is exported as a torchrun job, trained by
 * `python3 -m torch.distributed.run --standalone --nproc_per_node=2` on CPU (gloo), imported as a
 * run with parity <= 1e-4 and evaluated by the app; gradient averaging over 2 workers equals one
 * process on the whole batch; a worker killed mid-epoch (-9) with --max_restarts=1 and the job
 * still finishes from its checkpoint. Skipped, saying why, only where python3 has no torch.
 */
import * as tf from '@tensorflow/tfjs'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importDataset } from '../../src/main/services/datasets'
import { listRuns } from '../../src/main/ml/training/runs'
import { exportJob } from '../../src/main/services/cluster/export-job'
import { importJob } from '../../src/main/services/cluster/import-job'
import { runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'
import { writeColourImages } from './export-project'

function findPython(): { python: string | null; reason: string } {
  const candidates = [process.env.CLASSIFIER_STUDIO_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]
  const tried: string[] = []
  for (const p of candidates) {
    const r = spawnSync(p, ['-c', 'import torch, numpy, torch.distributed.run; print(torch.__version__, torch.distributed.is_gloo_available())'], { encoding: 'utf8' })
    if (r.status === 0 && /True/.test(r.stdout)) return { python: p, reason: r.stdout.trim() }
    tried.push(`${p}: ${(r.stderr || r.error?.message || r.stdout || '').trim().split('\n').pop()}`)
  }
  return { python: null, reason: `no python3 with torch (gloo) and numpy: ${tried.join('; ')}` }
}

/** Writes a Keras VGG16 (include_top=False) weights file with seeded random weights (He normal; the first layer scaled for caffe inputs). */
const VGG16_H5 = `
import sys, h5py, numpy as np
rng = np.random.default_rng(0)
names = []
for b, n in [(1, 2), (2, 2), (3, 3), (4, 3), (5, 3)]:
    names += [f"block{b}_conv{i}" for i in range(1, n + 1)] + [f"block{b}_pool"]
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["layer_names"] = np.array([n.encode() for n in ["input_1"] + names])
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.2.4"
    f.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S1")
    c = 3
    for name in names:
        g = f.create_group(name)
        if "pool" in name:
            g.attrs["weight_names"] = np.array([], dtype="S1")
            continue
        o = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}[int(name[5])]
        k = rng.normal(0, (2 / (9 * c)) ** 0.5, (3, 3, c, o)).astype(np.float32) / (64 if c == 3 else 1)
        g.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
        g.create_dataset(f"{name}/kernel:0", data=k)
        g.create_dataset(f"{name}/bias:0", data=rng.normal(0, 0.05, o).astype(np.float32))
        c = o
`

const { python, reason } = findPython()
// Skipped, saying why, where python3 lacks torch; never under CI (.ci/run installs it): there the tests fail.
const skip = !python && !process.env.CI
if (skip) console.log(`cluster-job tests skipped: ${reason}`)

/** Runs a command, resolving with its exit code and output (never rejects on a non-zero exit). */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, OMP_NUM_THREADS: '1', ...opts.env } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, out })
    })
  })
}

/** torchrun on CPU. --redirects/--tee: Debian's torch 1.13 on Python 3.11 crashes on their default "0". */
/** A free loopback port: --standalone always takes 29400, so two jobs at once (the kill run beside another) collide. */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer().once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo
      srv.close(() => resolve(port))
    })
  })
const torchrun = async (job: string, nproc: number, extra: string[] = [], scriptArgs: string[] = [], env: Record<string, string> = {}) => {
  const rdzv = ['--nnodes=1', '--rdzv_backend=c10d', `--rdzv_endpoint=127.0.0.1:${await freePort()}`, `--rdzv_id=${randomUUID()}`]
  return run(python!, ['-m', 'torch.distributed.run', ...rdzv, `--nproc_per_node=${nproc}`, '--redirects=2', '--tee=2', ...extra, join(job, 'train.py'), ...scriptArgs], { cwd: job, env })
}

const floats = (file: string) => {
  const b = readFileSync(file)
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0)
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))

const tmp = tempDir('cs-cluster-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const images = join(tmp.dir, 'images')
const project = join(tmp.dir, 'project')
const jobA = join(tmp.dir, 'job-a')
const jobB = join(tmp.dir, 'job-b')
const killOut = join(jobA, 'output-kill')
/** The kill-and-restart run of job A, started as soon as job A exists so that it overlaps the import. */
let killRun: Promise<{ code: number; out: string }> | null = null

async function makeProject(dir: string, source: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const now = new Date().toISOString()
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'cluster', createdAt: now, updatedAt: now, settings: { inputSize: 32, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  await importDataset(dir, source, { size: 32, val: 0.25, seed: 1 })
}

describe.skipIf(skip)('a project trained by torchrun and brought back (issue 18)', () => {
  beforeAll(async () => {
    if (!python) throw new Error(reason)
    await tf.setBackend('cpu')
    await writeColourImages(images, 8)
    await makeProject(project, images)
  })
  afterAll(() => tmp.cleanup())

  it('job export → torchrun with 2 CPU workers → job import: a run with parity <= 1e-4 that evaluates in the app', async () => {
    const ex = await runCli(['job', 'export', project, '--out', jobA, '--model', 'sign-mnist-cnn', '--epochs', '3', '--batch', '4', '--json'], env)
    expect(ex.code, ex.stderr).toBe(0)
    const e = ex.json()
    expect(e.dir).toBe(jobA)
    expect(e.command).toContain('torchrun --standalone --nproc_per_node=')
    expect(e.files).toEqual(expect.arrayContaining(['train.py', 'job.json', 'model.json', 'weights-init.bin', 'README.md', 'data-train-00000.npy', 'labels-train.npy', 'data-validation-00000.npy']))
    const readme = readFileSync(join(jobA, 'README.md'), 'utf8')
    for (const s of ['--standalone', '--rdzv_backend=c10d', 'srun torchrun', 'kind: PyTorchJob', 'job import']) expect(readme).toContain(s)

    const t = await torchrun(jobA, 2)
    expect(t.code, t.out).toBe(0)
    // Rank 1 kills itself with SIGKILL in epoch 2, batch 1, once (checked in the kill test below).
    killRun = torchrun(jobA, 2, ['--max_restarts=1'], ['--out', killOut], { CLASSIFIER_STUDIO_JOB_KILL_AT: '2,1,1' })
    expect(t.out).toContain('2 worker(s), gloo on cpu')
    const result = JSON.parse(readFileSync(join(jobA, 'output', 'result.json'), 'utf8'))
    expect(result).toMatchObject({ state: 'complete', worldSize: 2, device: 'cpu', backend: 'gloo', epochsDone: 3 })

    const im = await runCli(['job', 'import', project, jobA, '--json'], env)
    expect(im.code, im.stderr).toBe(0)
    const r = im.json()
    expect(r.workers).toBe(2)
    expect(r.epochs.map((m: { epoch: number }) => m.epoch)).toEqual([1, 2, 3])
    expect(r.best.epoch).toBe(result.best.epoch)
    expect(r.parity.images).toBe(6)
    expect(r.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4)
    expect(r.parity.labelAgreement).toBe(1)
    const runDir = join(project, 'runs', r.runId)
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).origin).toMatchObject({ kind: 'torchrun', worldSize: 2, device: 'cpu', jobId: e.jobId })
    expect(JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'))).toMatchObject({ status: 'completed', backend: 'torchrun (2 workers, cpu)', epochsDone: 3 })
    // Listed with the app's runs (Past runs), its origin and curves included.
    const listed = (await listRuns(project)).find((x) => x.runId === r.runId)
    expect(listed).toMatchObject({ status: 'completed', epochsDone: 3, hasBest: true, origin: { kind: 'torchrun', worldSize: 2, device: 'cpu' } })

    // The app uses the imported run like a local one; its validation accuracy is PyTorch's best epoch's.
    const ev = await runCli(['evaluate', project, '--run', r.runId, '--json'], env)
    expect(ev.code, ev.stderr).toBe(0)
    expect(ev.json().accuracy).toBeCloseTo(r.best.valAccuracy, 6)

    // Importing the same job twice is refused.
    await expect(importJob(project, jobA)).rejects.toMatchObject({ code: 'CONFLICT' })
  })

  it('one step with 2 workers equals one step of a single process on the whole batch (no BatchNormalization, no dropout)', async () => {
    // cats-dogs-cnn: convolutions, pooling and dense layers only. SGD so the step is the averaged gradient itself.
    await exportJob(project, { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 1, batchSize: 4, optimizer: 'sgd', learningRate: 0.05 }, { out: jobB })
    // Before it ran, the job is unfinished: import refuses it.
    await expect(importJob(project, jobB)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('has not finished') })
    const [two, one] = await Promise.all([
      torchrun(jobB, 2, [], ['--max-steps', '1', '--out', join(jobB, 'out-2')]),
      run(python!, [join(jobB, 'train.py'), '--max-steps', '1', '--global-batch', '8', '--out', join(jobB, 'out-1'), '--threads', '1'], { cwd: jobB }),
    ])
    expect(two.code, two.out).toBe(0)
    expect(one.code, one.out).toBe(0)
    const init = floats(join(jobB, 'weights-init.bin'))
    const w2 = floats(join(jobB, 'out-2', 'best-weights.bin'))
    const w1 = floats(join(jobB, 'out-1', 'best-weights.bin'))
    expect(w2.length).toBe(init.length)
    expect(maxDiff(w1, init)).toBeGreaterThan(1e-3) // a real step was taken
    expect(maxDiff(w2, w1)).toBeLessThanOrEqual(1e-6)
  })

  it('a worker killed (-9) mid-epoch with --max_restarts=1: the job restarts from its checkpoint and finishes', async () => {
    const out = killOut
    expect(killRun, 'the round-trip test starts this run').not.toBeNull()
    const t = await killRun!
    expect(t.code, t.out).toBe(0)
    expect(existsSync(join(out, '.killed-once'))).toBe(true)
    expect(t.out).toContain('resuming after epoch 1')
    expect(lines(join(out, 'metrics.jsonl')).map((m) => m.epoch)).toEqual([1, 2, 3])
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'))).toMatchObject({ state: 'complete', epochsDone: 3, worldSize: 2 })
  })

  it('every CNN preset and both bases (MobileNetV2, VGG16) round-trip app → job → app with parity <= 1e-4', async () => {
    // One process each (python3 train.py, the same script torchrun starts), two steps: the architecture
    // and weight conversion are what is checked here; the distributed run is the first test's.
    const p96 = join(tmp.dir, 'project-96')
    await mkdir(p96, { recursive: true })
    const now = new Date().toISOString()
    await writeFile(join(p96, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'cluster-96', createdAt: now, updatedAt: now, settings: { inputSize: 96, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
    await importDataset(p96, images, { size: 96, val: 0.25, seed: 1 })
    const cases = [
      { project, name: 'fashion-mnist-cnn', opts: { recipe: 'cnn' as const, model: 'fashion-mnist-cnn' } },
      { project, name: 'cats-dogs-cnn-bn', opts: { recipe: 'cnn' as const, model: 'cats-dogs-cnn-bn' } },
      { project: p96, name: 'mobilenetv2', opts: { recipe: 'transfer' as const, base: 'mobilenetv2' as const, augment: 'flip,rotate=10' } },
    ]
    // VGG16 needs ImageNet weights, which are not offline: a Keras-layout .h5 with seeded random weights
    // (python3-h5py; the case is left out, saying so, where it is missing).
    const vggH5 = join(tmp.dir, 'vgg16_notop_random.h5')
    const h5 = spawnSync(python!, ['-c', VGG16_H5, vggH5], { encoding: 'utf8' })
    if (h5.status === 0) cases.push({ project, name: 'vgg16', opts: { recipe: 'transfer' as const, base: 'vgg16' as const, baseWeights: vggH5 } as never })
    else console.log(`cluster-job: VGG16 case left out (no h5py to write its weights file): ${h5.stderr.trim().split('\n').pop()}`)
    const jobs = []
    for (const c of cases) {
      const dir = join(tmp.dir, `job-${c.name}`)
      await exportJob(c.project, { ...c.opts, epochs: 1, batchSize: 8 }, { out: dir })
      jobs.push(dir)
    }
    const runs = await Promise.all(jobs.map((dir) => run(python!, [join(dir, 'train.py'), '--max-steps', '2', '--threads', '1'], { cwd: dir })))
    for (const [i, c] of cases.entries()) {
      expect(runs[i].code, runs[i].out).toBe(0)
      const r = await importJob(c.project, jobs[i])
      console.log(`cluster-job round trip ${c.name}: ${r.parity.images} images, max abs difference ${r.parity.maxAbsDiff.toExponential(2)}`)
      expect(r.parity, c.name).toMatchObject({ passed: true, labelAgreement: 1 })
      expect(r.parity.maxAbsDiff, c.name).toBeLessThanOrEqual(1e-4)
    }
  })

  it('refuses a job of another project (other classes), and never writes over a project or a folder of the user', async () => {
    const two = join(tmp.dir, 'images-2')
    mkdirSync(two)
    for (const c of ['blue', 'green']) cpSync(join(images, c), join(two, c), { recursive: true })
    const other = join(tmp.dir, 'other')
    await makeProject(other, two)
    await expect(importJob(other, jobA)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('classes') })

    await expect(exportJob(project, { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 1 }, { out: project, overwrite: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    const mine = join(tmp.dir, 'mine')
    mkdirSync(mine)
    writeFileSync(join(mine, 'notes.txt'), 'keep')
    await expect(exportJob(project, { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 1 }, { out: mine, overwrite: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(readFileSync(join(mine, 'notes.txt'), 'utf8')).toBe('keep')
    // A job that has run holds output/ (not the app's): it is not replaced either.
    await expect(exportJob(project, { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 1 }, { out: jobA, overwrite: true })).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(existsSync(join(jobA, 'output', 'result.json'))).toBe(true)
  })
})
