/**
 * Reproduces the tutorials (examples 1, 2 and 5 by default) on the local copies of their data
 * sets through the same code the CLI uses (createExample + runExample: import service, training
 * service in its own process, evaluation service), and runs the same recipe in PyTorch on the
 * same machine (bench/torch_reproduce.py, 2 threads). Writes bench/results/reproduce.{md,json}.
 *
 *   npx tsx bench/reproduce.ts [fashion-mnist|sign-mnist|cats-dogs-mobilenetv2 ...]
 *       [--epochs N]      cap every stage at N epochs (a shorter variant, marked as such)
 *       [--quick]         the documented short variant (see QUICK below)
 *       [--no-torch]      skip the PyTorch peer
 *       [--torch-only]    run only the PyTorch peer for rows already in reproduce.json (same variant),
 *                         at the input size the example would be created at now; it may run beside
 *                         an app run with --no-torch: that run keeps a PyTorch column started after it
 *       [--render]        only rewrite reproduce.md from reproduce.json
 *       [--data DIR]      default /work/shared/data (or $CLASSIFIER_STUDIO_DATA)
 *       [--work DIR]      where the projects go (default a temp folder)
 *
 * Full recipe = no --epochs/--quick. Results of earlier runs of other examples are kept in the
 * JSON and the table (each row says when and how it was produced).
 */
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createExample, exampleInputSize, runExample } from '../src/main/services/examples'
import { closeProject } from '../src/main/services/projects'
import { getExample, type ExampleName } from '../src/shared/examples'
import type { TrainOptionsInput } from '../src/shared/training'

const here = dirname(fileURLToPath(import.meta.url))
const LOCAL: Partial<Record<ExampleName, string>> = {
  'fashion-mnist': 'fashion-mnist',
  'sign-mnist': 'sign-mnist',
  'cats-dogs-cnn': 'cats-vs-dogs',
  'cats-dogs-mobilenetv2': 'cats-vs-dogs',
}

/**
 * The documented short variant for a loaded 2-core machine (each well under ~25 min of CPU):
 * fewer epochs, and for MobileNetV2 the head trained on cached base features (no augmentation
 * in that stage, so the frozen base runs once per image instead of once per image per epoch).
 */
const QUICK: Partial<Record<ExampleName, Record<string, Partial<TrainOptionsInput>>>> = {
  'fashion-mnist': { cnn: { epochs: 3 } },
  'sign-mnist': { cnn: { epochs: 3 } },
  // batch 16 for fine-tuning: at 32, backpropagating through MobileNetV2 at 160 px overflows the wasm heap (RuntimeError: memory access out of bounds)
  'cats-dogs-mobilenetv2': { transfer: { augment: 'none', epochs: 10 }, finetune: { epochs: 1, batchSize: 16 } },
}

interface Args {
  names: ExampleName[]
  epochs?: number
  quick: boolean
  torchOnly?: boolean
  render: boolean
  torch: boolean
  data: string
  work: string
}

function parseArgs(argv: string[]): Args {
  const a: Args = { names: [], quick: false, render: false, torch: true, data: process.env.CLASSIFIER_STUDIO_DATA ?? '/work/shared/data', work: join(tmpdir(), `reproduce-${process.pid}`) }
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]
    if (v === '--epochs') a.epochs = Number(argv[++i])
    else if (v === '--quick') a.quick = true
    else if (v === '--no-torch') a.torch = false
    else if (v === '--torch-only') a.torchOnly = true
    else if (v === '--render') a.render = true
    else if (v === '--data') a.data = resolve(argv[++i])
    else if (v === '--work') a.work = resolve(argv[++i])
    else if (v.startsWith('--')) throw new Error(`Unknown option ${v}`)
    else {
      getExample(v)
      if (!LOCAL[v as ExampleName]) throw new Error(`${v} has no local data under the data folder (its data must be downloaded or its weights given); reproduce runs ${Object.keys(LOCAL).join(', ')}.`)
      a.names.push(v as ExampleName)
    }
  }
  if (!a.names.length) a.names = ['fashion-mnist', 'sign-mnist', 'cats-dogs-mobilenetv2']
  return a
}

export interface StageRow {
  stage: string
  epochs: number
  bestEpoch: number
  bestValAccuracy: number | null
  seconds: number
  imagesPerSecond: number | null
  options: TrainOptionsInput
}

export interface Row {
  example: ExampleName
  title: string
  variant: string
  overrides: Record<string, Partial<TrainOptionsInput>>
  split: 'test' | 'validation'
  accuracy: number | null
  loss: number | null
  /** Pixels, as the project was created (an example may pick another size than its tutorial's). */
  inputSize?: number
  stages: StageRow[]
  importSeconds: number
  trainSeconds: number
  wallSeconds: number
  backend: string
  published: { stage: string; value: number | null; metric: string; source: string }[]
  target: { metric: string; value: number } | null
  torch: TorchRow | null
  /** Set when the app's run failed (the stages that finished are kept). */
  error?: string
  machine: Machine
  /** 1-minute load average just before the app run and before the PyTorch run (after waiting up to 2 min for < 0.5). */
  load?: { app: number; torch?: number }
  at: string
  command: string
}

interface TorchRow {
  accuracy: number
  split: string
  epochs: number[]
  seconds: number
  torch: string
  threads: number
  /** When the peer started: an app run keeps a column that started after it (same recipe code). */
  startedAt?: string
  note?: string
  error?: string
}

interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  node: string
  loadAverage?: number[]
}

function machine(): Machine {
  const c = cpus()
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version }
}

/** Waits up to 2 minutes for a quiet machine (1-minute load below 0.5); returns the load it starts at. */
async function quietLoad(): Promise<number> {
  const until = Date.now() + 120_000
  while (loadavg()[0]! > 0.5 && Date.now() < until) await new Promise((res) => setTimeout(res, 2000))
  return loadavg()[0]!
}

const pct = (x: number | null | undefined) => (x == null ? '–' : `${(x * 100).toFixed(2)} %`)
const mins = (s: number) => (s >= 90 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(0)} s`)

function runTorch(name: ExampleName, args: Args, overrides: Record<string, Partial<TrainOptionsInput>>, weights: string | null, inputSize: number): Promise<TorchRow> {
  const def = getExample(name)
  // The peer always uses the offline MobileNetV2 weights, so it takes the stages' offline-weights options as the app does.
  const stages = def.stages.map((s) => ({ name: s.name, options: { ...s.options, ...(weights ? (s.offlineWeights?.options ?? {}) : {}), ...(overrides['*'] ?? {}), ...(overrides[s.name] ?? {}) } }))
  const job = JSON.stringify({ example: name, data: join(args.data, LOCAL[name]!), stages, weights, inputSize })
  return new Promise((res) => {
    execFile('/usr/bin/python3', [join(here, 'torch_reproduce.py'), job], { maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const last = stdout.trim().split('\n').pop() ?? ''
      try {
        res(JSON.parse(last) as TorchRow)
      } catch {
        res({ accuracy: NaN, split: def.evaluateSplit, epochs: [], seconds: 0, torch: '?', threads: 2, error: (err?.message ?? '') + stderr.split('\n').slice(-5).join(' | ') })
      }
      process.stderr.write(stderr.split('\n').filter((l) => /^\[torch\]/.test(l)).join('\n') + '\n')
    })
  })
}

/** The offline MobileNetV2 weights as the app loads them, dumped for the PyTorch peer (same weights). */
async function dumpMobileNetWeights(out: string, inputSize: number): Promise<string> {
  const { buildMobileNetV2 } = await import('../src/main/ml/models')
  const { loadNsfwjsMobileNetV2Weights } = await import('../src/main/ml/weights')
  const base = buildMobileNetV2({ alpha: 1.0, inputSize } as never) as import('@tensorflow/tfjs').LayersModel
  loadNsfwjsMobileNetV2Weights(base)
  const manifest: { layer: string; name: string; shape: number[]; offset: number }[] = []
  const chunks: Buffer[] = []
  let offset = 0
  for (const l of base.layers)
    for (const w of l.weights) {
      const data = w.read().dataSync() as Float32Array
      manifest.push({ layer: l.name, name: w.originalName ?? w.name, shape: w.shape as number[], offset })
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
      offset += data.length
    }
  await mkdir(out, { recursive: true })
  await writeFile(join(out, 'weights.bin'), Buffer.concat(chunks))
  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest))
  base.dispose()
  return out
}

/** PyTorch's wall time over the app's (above 1: the app is faster), with the load each started at. */
function speed(r: Row): string {
  if (!r.torch || r.torch.error || r.error) return '–'
  const ratio = `${(r.torch.seconds / (r.importSeconds + r.trainSeconds)).toFixed(2)}x`
  return r.load ? `${ratio} (${r.load.app.toFixed(2)} / ${r.load.torch?.toFixed(2) ?? 'beside it'})` : `${ratio} (load not recorded)`
}

function renderMd(rows: Row[]): string {
  const m = rows[0]?.machine
  const lines: string[] = []
  lines.push('# Tutorials reproduced (bench/reproduce.ts)', '')
  lines.push('Produced by `npx tsx bench/reproduce.ts` (see each row\'s command). The app column runs the example project through the same services as the CLI (import, training in its own process, evaluation); the PyTorch column runs the same recipe (same model, optimizer, epochs, batch size, augmentation, splits of the same files; for MobileNetV2 the same offline weights) with torch.set_num_threads(2) on the same machine (right after the app run, or beside it when the row\'s command says --torch-only).', '')
  if (m) lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}. Rows whose load is not recorded ran while the machine was shared with other jobs: their wall times are upper bounds.`, '')
  lines.push('| example | variant | metric | app (TF.js) | PyTorch | tutorial | target | app epochs | app wall time (import + train + evaluate) | PyTorch wall time | app speed ÷ PyTorch\'s (load before app / PyTorch) | backend |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const pub = r.published.map((p) => (p.value == null ? `– (${p.stage})` : `${pct(p.value)} (${p.stage})`)).join(', ')
    const torch = r.torch ? (r.torch.error ? `failed: ${r.torch.error.slice(0, 80)}` : pct(r.torch.accuracy)) : 'not run'
    lines.push(
      `| ${r.example} | ${r.variant}${r.inputSize ? `, ${r.inputSize} px` : ''} | ${r.split} accuracy | **${r.error ? `failed: ${r.error.slice(0, 120)}` : pct(r.accuracy)}** | ${torch} | ${pub || '–'} | ${r.target ? `≥ ${pct(r.target.value)}` : '–'} | ${r.stages.map((s) => `${s.stage} ${s.epochs}`).join(', ')} | ${mins(r.importSeconds + r.trainSeconds)} | ${r.torch && !r.torch.error ? mins(r.torch.seconds) : '–'} | ${speed(r)} | ${r.backend} |`,
    )
  }
  lines.push('', '## Per stage', '')
  lines.push('| example | stage | epochs (best) | best val accuracy | seconds | images/s | options |')
  lines.push('|---|---|---|---|---|---|---|')
  for (const r of rows)
    for (const s of r.stages)
      lines.push(`| ${r.example} | ${s.stage} | ${s.epochs} (${s.bestEpoch}) | ${pct(s.bestValAccuracy)} | ${s.seconds.toFixed(0)} | ${s.imagesPerSecond?.toFixed(0) ?? '–'} | \`${JSON.stringify(s.options)}\` |`)
  lines.push('', '## Commands', '')
  for (const r of rows) lines.push(`- ${r.example} (${r.at}): \`${r.command}\`${r.variant !== 'full recipe' ? ` — full recipe: \`npx tsx bench/reproduce.ts ${r.example}\`` : ''}`)
  lines.push('')
  return lines.join('\n')
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  process.env.CLASSIFIER_STUDIO_HOME ??= join(args.work, 'home')
  const resultsDir = join(here, 'results')
  await mkdir(resultsDir, { recursive: true })
  const jsonPath = join(resultsDir, 'reproduce.json')
  const previous: Row[] = await readFile(jsonPath, 'utf8').then((t) => JSON.parse(t) as Row[], () => [])
  /** Replaces one example's row in the results as they are on disk now (another run may have written since). */
  const saveRow = async (row: Row) => {
    const latest: Row[] = await readFile(jsonPath, 'utf8').then((t) => JSON.parse(t) as Row[], () => [])
    const merged = new Map(latest.map((r) => [r.example, r]))
    merged.set(row.example, row)
    const ordered = [...merged.values()].sort((a, b) => Object.keys(LOCAL).indexOf(a.example) - Object.keys(LOCAL).indexOf(b.example))
    await writeFile(jsonPath, JSON.stringify(ordered, null, 2) + '\n')
    await writeFile(join(resultsDir, 'reproduce.md'), renderMd(ordered))
  }
  if (args.render) {
    await writeFile(join(resultsDir, 'reproduce.md'), renderMd(previous))
    console.log(`wrote ${join(resultsDir, 'reproduce.md')} from ${jsonPath}`)
    return
  }
  for (const name of args.names) {
    const def = getExample(name)
    const overrides: Record<string, Partial<TrainOptionsInput>> = args.quick ? { ...(QUICK[name] ?? {}) } : {}
    if (args.epochs) for (const s of def.stages) overrides[s.name] = { ...(overrides[s.name] ?? {}), epochs: args.epochs }
    const variant = Object.keys(overrides).length ? `shorter: ${Object.entries(overrides).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join('; ')}` : 'full recipe'
    if (args.torchOnly) {
      const row = (await readFile(jsonPath, 'utf8').then((t) => JSON.parse(t) as Row[], () => [] as Row[])).find((r) => r.example === name)
      if (!row || row.variant !== variant) throw new Error(`--torch-only needs an app row for ${name} (${variant}) in ${jsonPath}; run without --torch-only first.`)
      const inputSize = (await exampleInputSize(def)).size
      const startedAt = new Date().toISOString()
      const weights = name === 'cats-dogs-mobilenetv2' ? await dumpMobileNetWeights(join(args.work, 'mnv2-weights'), inputSize) : null
      console.log(`== ${name} (${variant}): PyTorch peer only`)
      const torch = { ...(await runTorch(name, args, overrides, weights, inputSize)), startedAt }
      console.log(`   PyTorch: ${torch.error ? `failed: ${torch.error}` : `${pct(torch.accuracy)} in ${mins(torch.seconds)}`}`)
      // Into the row as it is now: an app run of the same recipe may have finished meanwhile.
      const now = (await readFile(jsonPath, 'utf8').then((t) => JSON.parse(t) as Row[], () => [] as Row[])).find((r) => r.example === name && r.variant === variant) ?? row
      const appCommand = now.command.replace(/ \(PyTorch column: .*\)$/, '').replace(' --no-torch', '')
      await saveRow({ ...now, torch, command: `${appCommand} (PyTorch column: ${appCommand} --torch-only, ${new Date().toISOString()})` })
      continue
    }
    const dir = join(args.work, name)
    await rm(dir, { recursive: true, force: true })
    console.log(`== ${name} (${variant})`)
    const load: NonNullable<Row['load']> = { app: await quietLoad() }
    console.log(`   load average ${load.app.toFixed(2)}`)
    const w0 = Date.now()
    const startedAt = new Date().toISOString()
    const created = await createExample(dir, name, { source: join(args.data, LOCAL[name]!), onProgress: (() => { let last = 0; return (p: { phase: string; message?: string }) => { if (Date.now() - last > 5000) { last = Date.now(); console.log(`   ${p.phase}: ${p.message ?? ''}`) } } })() })
    await closeProject(dir)
    const importSeconds = (Date.now() - w0) / 1000
    const inputSize = created.project.settings.inputSize
    console.log(`   imported in ${importSeconds.toFixed(1)} s`)
    const t0 = Date.now()
    let backend = '?'
    const ips: Record<string, number[]> = {}
    const done: Row['stages'] = []
    const r = await runExample(dir, {
      overrides,
      onEvent: (e) => {
        if (e.type === 'start') backend = e.backend
        if (e.type === 'epoch') {
          ;(ips[e.stage] ??= []).push(e.imagesPerSecond)
          console.log(`   [${e.stage}] epoch ${e.epoch}: loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)} val_acc ${e.valAccuracy?.toFixed(4) ?? '-'} ${e.seconds.toFixed(0)} s ${e.imagesPerSecond.toFixed(0)} img/s`)
        }
        if (e.type === 'log' && !/Computing base features/.test(e.message)) console.log(`   [${e.stage}] ${e.message}`)
        if (e.type === 'done') done.push({ stage: e.stage, epochs: e.result.epochs.length, bestEpoch: e.result.best.epoch, bestValAccuracy: e.result.best.valAccuracy, seconds: e.result.epochs.reduce((a, m) => a + m.seconds, 0), imagesPerSecond: null, options: {} })
      },
    }).catch((err: Error) => {
      // Keep what finished, say plainly what failed, go on with the next example.
      console.log(`   FAILED: ${err.message.split('\n')[0]}`)
      return { example: name, stages: [], evaluation: null, seconds: (Date.now() - t0) / 1000, error: `${err.message.split('\n')[0]}`, partial: done }
    })
    const trainSeconds = (Date.now() - t0) / 1000
    const wallSeconds = (Date.now() - w0) / 1000
    console.log(`   ${r.evaluation?.split} accuracy ${pct(r.evaluation?.accuracy)} after ${mins(trainSeconds)}`)
    // A --torch-only peer started after this run began ran this recipe: keep its column.
    const onDisk = (await readFile(jsonPath, 'utf8').then((t) => JSON.parse(t) as Row[], () => [] as Row[])).find((x) => x.example === name && x.variant === variant)
    let torch: TorchRow | null = onDisk?.torch?.startedAt && onDisk.torch.startedAt >= startedAt ? onDisk.torch : null
    if (args.torch && !('error' in r)) {
      const weights = name === 'cats-dogs-mobilenetv2' ? await dumpMobileNetWeights(join(args.work, 'mnv2-weights'), inputSize) : null
      load.torch = await quietLoad()
      console.log(`   PyTorch peer (load average ${load.torch.toFixed(2)}) ...`)
      torch = await runTorch(name, args, overrides, weights, inputSize)
      console.log(`   PyTorch: ${torch.error ? `failed: ${torch.error}` : `${pct(torch.accuracy)} in ${mins(torch.seconds)}`}`)
    }
    const appCmd = `npx tsx bench/reproduce.ts ${name}${args.quick ? ' --quick' : ''}${args.epochs ? ` --epochs ${args.epochs}` : ''}`
    const cmd = args.torch ? appCmd : torch ? `${appCmd} (PyTorch column: ${appCmd} --torch-only, started ${torch.startedAt})` : `${appCmd} --no-torch`
    await saveRow({
      example: name,
      title: def.title,
      variant,
      overrides,
      split: def.evaluateSplit,
      inputSize,
      accuracy: r.evaluation?.accuracy ?? null,
      loss: r.evaluation?.loss ?? null,
      error: 'error' in r ? r.error : undefined,
      stages: 'partial' in r ? r.partial : r.stages.map((s) => ({
        stage: s.stage,
        epochs: s.result.epochs.length,
        bestEpoch: s.result.best.epoch,
        bestValAccuracy: s.result.best.valAccuracy,
        seconds: s.seconds,
        imagesPerSecond: ips[s.stage]?.length ? ips[s.stage].reduce((a, b) => a + b, 0) / ips[s.stage].length : null,
        options: s.options,
      })),
      importSeconds,
      trainSeconds,
      wallSeconds,
      backend,
      published: def.published.map((p) => ({ stage: p.stage, value: p.value, metric: p.metric, source: p.source })),
      target: def.target ? { metric: def.target.metric, value: def.target.value } : null,
      torch,
      machine: machine(),
      load,
      at: new Date().toISOString(),
      command: cmd,
    })
    await rm(dir, { recursive: true, force: true })
  }
  console.log(`wrote ${join(resultsDir, 'reproduce.md')}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
