/**
 * Training / inference speed of TF.js on the wasm backend (with our gradient kernels)
 * against PyTorch CPU (/usr/bin/python3, 2 threads, same architectures, same batches),
 * measured in the same run, printing the ratios.
 *
 *   npx tsx bench/train.ts [--seconds 6] [--quick] [--no-torch] [--no-mobilenet] [--no-onnx]
 *                          [--parallel [--threads N] [--images 8192] [--augment SPEC [--model M]]]
 *                          [--finetune [--threads N]]
 *                          [--e2e [--epochs 5]]
 *
 * Speeds use the median step time (the machine is shared; the median resists spikes), and
 * the Fashion figures the median over --rounds interleaved rounds (default 3).
 * Reported: Fashion-MNIST CNN (333,526 params) training at batch 32 and 128 and inference;
 * the cpu backend briefly for reference; MobileNetV2 160x160 (the models owner's
 * Keras-equivalent builder + GAP + Dense(5)) forward and full train step vs torchvision
 * mobilenet_v2; the frozen-base forward on wasm vs onnxruntime-node running the same base
 * exported by src/main/ml/export/onnx.ts (max abs feature difference printed); and an
 * estimate of a 5-epoch Fashion-MNIST run on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/main/ml/backend';
import { buildCnn, CNN_PRESETS } from '../src/main/ml/models';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const QUICK = flag('quick');
const SECONDS = opt('seconds', QUICK ? 2 : 6);
const here = path.dirname(fileURLToPath(import.meta.url));

/** The app's own Fashion-MNIST preset (333,526 params), as the training service builds it. */
function fashionCnn(): tf.LayersModel {
  const m = buildCnn(CNN_PRESETS['fashion-mnist-cnn'].layers, { inputShape: [28, 28, 1], numClasses: 10 });
  if (m.countParams() !== 333526) throw new Error(`Fashion CNN has ${m.countParams()} params, expected 333,526`);
  return m;
}

async function mobileNet(size: number): Promise<{ model: tf.LayersModel; base: tf.LayersModel }> {
  const { buildMobileNetV2 } = await import('../src/main/ml/models/bases');
  const base = buildMobileNetV2({ alpha: 1.0, inputSize: size });
  const gap = tf.layers.globalAveragePooling2d({}).apply(base.outputs[0]!) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(gap) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: base.inputs, outputs: out }), base };
}

/** Median seconds per call of an async step, run for about `seconds` (at least 3 steps). */
async function timeSteps(step: () => Promise<void> | void, seconds = SECONDS, warmup = 2): Promise<{ median: number; steps: number }> {
  for (let i = 0; i < warmup; i++) await step();
  const times: number[] = [];
  const t0 = performance.now();
  while (true) {
    const t = performance.now();
    await step();
    times.push((performance.now() - t) / 1000);
    if ((performance.now() - t0) / 1000 >= seconds && times.length >= 3) break;
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, steps: times.length };
}

async function trainSpeed(model: tf.LayersModel, inShape: number[], classes: number, batch: number, seconds = SECONDS, warmup = 2): Promise<number> {
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const x = tf.randomNormal([batch, ...inShape]);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32') as tf.Tensor1D, classes));
  const { median } = await timeSteps(async () => {
    await model.trainOnBatch(x, y);
  }, seconds, warmup);
  tf.dispose([x, y]);
  return batch / median;
}

async function inferSpeed(model: tf.LayersModel, inShape: number[], batch: number, seconds = SECONDS): Promise<number> {
  const x = tf.randomNormal([batch, ...inShape]);
  const { median } = await timeSteps(async () => {
    const y = model.predict(x) as tf.Tensor;
    await y.data();
    y.dispose();
  }, seconds);
  x.dispose();
  return batch / median;
}

interface TorchJob { model: 'fashion' | 'mobilenet_v2'; mode: 'train' | 'infer' | 'finetune'; batch: number; seconds: number; size?: number; threads?: number; cut?: number }
function torch(jobs: TorchJob[]): number[] {
  const out = execFileSync('/usr/bin/python3', [path.join(here, 'torch_train.py'), JSON.stringify(jobs)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return out.trim().split('\n').map((l) => (JSON.parse(l) as { images_per_s: number }).images_per_s);
}

const rows: Array<[string, string, string, string]> = [];
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
function report(what: string, ours: number, peer: number | null, peerName = 'PyTorch') {
  const r = peer ? ours / peer : 0;
  const ratio = peer ? `${r < 0.1 ? r.toPrecision(2) : r.toFixed(2)}x ${peerName}` : '';
  rows.push([what, fmt(ours), peer ? fmt(peer) : '-', ratio]);
  console.log(`${what.padEnd(48)} ${fmt(ours).padStart(8)} img/s   ${(peerName + ':').padEnd(14)} ${(peer ? fmt(peer) : '-').padStart(8)}   ${ratio}`);
}

const info = await initBackend('wasm');
console.log(`backend: ${info.name} (${info.threads} thread${info.threads === 1 ? '' : 's'}); ${info.reason}`);
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
const useTorch = !flag('no-torch');

// --- MobileNetV2 fine-tuning on the frozen-bottom plan --------------------------------------
// --finetune: the plan the app trains with (ml/training/frozen-split.ts): the bottom below the
// first trained block forward-only on the feature extractor (onnxruntime when it matches), the
// top trained on N threads (parallel-step.ts), the next batch's bottom computed while the
// threads step (as the batch stream does); against PyTorch (2 threads) running the bottom
// under no_grad and training the rest. From block_11 at 160 px and from block_7 at 224 px,
// batch 32, random weights (speed only), Adam; img/s from the median step over --rounds.
if (flag('finetune')) {
  const os = await import('node:os');
  const { singleTensorCuts, splitAtFrozenBottom } = await import('../src/main/ml/training/frozen-split');
  const { createFeatureExtractor } = await import('../src/main/ml/backend/feature-extractor');
  const { ParallelStep } = await import('../src/main/ml/training/parallel-step');
  const threads = opt('threads', os.availableParallelism());
  const rounds = opt('rounds', QUICK ? 1 : 3);
  const batch = 32;
  const until = Date.now() + 120_000;
  while (os.loadavg()[0]! > 0.5 && Date.now() < until) await new Promise((res) => setTimeout(res, 2000));
  const load0 = os.loadavg()[0]!;
  console.log(`MobileNetV2 fine-tuning on the frozen-bottom plan, batch ${batch}, ${threads} threads vs PyTorch 2 threads; load average ${load0.toFixed(2)} before the runs`);
  for (const plan of [{ size: 160, from: 11 }, { size: 224, from: 7 }]) {
    // As the app builds it: input -> base (nested) -> GAP -> Dense.
    const { buildMobileNetV2 } = await import('../src/main/ml/models/bases');
    const base = buildMobileNetV2({ alpha: 1.0, inputSize: plan.size });
    const input = tf.input({ shape: [plan.size, plan.size, 3] });
    const gap = tf.layers.globalAveragePooling2d({}).apply(base.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 5, activation: 'softmax' }).apply(gap) as tf.SymbolicTensor });
    const cut = singleTensorCuts(base).filter((c) => c.name.startsWith(`block_${plan.from - 1}_`)).at(-1)!;
    const split = splitAtFrozenBottom(model, base, cut.index)!;
    const fx = await createFeatureExtractor(split.bottom);
    const ps = await ParallelStep.start({ model: split.top, threads, numClasses: 5 });
    const optimizer = tf.train.adam(1e-4);
    const pixels = Float32Array.from({ length: batch * plan.size * plan.size * 3 }, () => Math.random());
    const labels = Int32Array.from({ length: batch }, (_, i) => i % 5);
    const ours: number[] = [];
    const peer: number[] = [];
    for (let round = 0; round < rounds; round++) {
      let next = fx.extract(pixels, batch);
      const { median } = await timeSteps(async () => {
        const feats = await next;
        next = fx.extract(pixels, batch);
        const x = tf.tensor(feats, [batch, ...split.cutShape]);
        await ps.step(optimizer, x, labels, () => []);
        x.dispose();
      }, QUICK ? 4 : 10, 2);
      await next;
      ours.push(batch / median);
      if (useTorch) peer.push(torch([{ model: 'mobilenet_v2', mode: 'finetune', size: plan.size, cut: plan.from + 1, batch, seconds: QUICK ? 4 : 10, threads: 2 }])[0]!);
      console.log(`  ${plan.size} px from block_${plan.from} (cut ${split.cutLayer}, bottom on ${fx.engine}), round ${round + 1}/${rounds}: ${fmt(ours.at(-1)!)} img/s${useTorch ? `, PyTorch ${fmt(peer.at(-1)!)} img/s` : ''} (load ${os.loadavg()[0]!.toFixed(2)}, ours included)`);
    }
    const mid = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
    if (load0 > 0.5) console.log(`No ratio: the load average was ${load0.toFixed(2)} before the runs (above 0.5); rerun on a quiet machine.`);
    else report(`MobileNetV2 ${plan.size} px fine-tune from block_${plan.from}, ${threads} thr`, mid(ours), useTorch ? mid(peer) : null, 'PyTorch 2thr');
    await ps.close();
    fx.dispose();
    optimizer.dispose();
    model.dispose();
  }
  process.exit(0);
}

// --- Data-parallel training: the product path ---------------------------------------------
// runTraining (the app's training loop) on the Fashion-MNIST preset with generated 28x28 images
// (8,192 by default: each run starts fresh threads, whose wasm warms up over the first ~30 steps;
// a real Fashion-MNIST epoch is 1,875 steps),
// one epoch with threads 1, then with --threads N (default: every core), then PyTorch's step on
// the same CNN and batch with 2 threads (bench/torch_train.py: median step, no data loading, so
// a generous peer), alternating over --rounds; each run's training img/s is its epoch's
// (validation and start-up excluded). The
// bench waits (up to 2 min) for the 1-minute load average to fall to 0.5 and prints the ratio
// only when it did: the load during the runs is the bench's own and is printed for reference.
// --parallel runs this comparison alone. With --augment SPEC (e.g. the sign-MNIST tutorial's
// 'rotate=10,zoom=0.1,shift=0.1') it compares N threads with and without that augmentation
// instead: the share of the step time augmentation costs (--model picks the preset).
if (flag('parallel')) {
  const os = await import('node:os');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { runTraining } = await import('../src/main/ml/training/train');
  const { InMemoryDataSource } = await import('../src/main/ml/training/data');
  const { mulberry32 } = await import('../src/main/ml/training/rng');
  const n = opt('threads', os.availableParallelism());
  const rounds = opt('rounds', QUICK ? 1 : 5);
  const mid = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
  const images = opt('images', QUICK ? 512 : 8192);
  const r = mulberry32(1);
  const data = new InMemoryDataSource(Array.from({ length: 10 }, (_, i) => `c${i}`), [28, 28, 1], {
    train: { x: Uint8Array.from({ length: images * 784 }, () => Math.floor(r() * 256)), labels: Int32Array.from({ length: images }, (_, i) => i % 10) },
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-parallel-'));
  const augment = args.includes('--augment') ? args[args.indexOf('--augment') + 1]! : null;
  const model = args.includes('--model') ? args[args.indexOf('--model') + 1]! : 'fashion-mnist-cnn';
  // CPU time over wall time of the N-thread runs (every thread of this process: how busy the cores are).
  const busy = { cpu: 0, wall: 0 };
  const speed = async (threads: number, aug = 'none'): Promise<number> => {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const res = await runTraining(dir, { recipe: 'cnn', model, epochs: 1, batchSize: 32, threads, augment: aug }, { deps: { data, backend: async () => ({ name: 'wasm', reason: 'bench' }) } });
    if (threads === n && n > 1) {
      const c = process.cpuUsage(c0);
      busy.cpu += (c.user + c.system) / 1e6;
      busy.wall += (performance.now() - w0) / 1000;
    }
    return res.epochs[0]!.imagesPerSecond;
  };
  const one: number[] = [];
  const many: number[] = [];
  const peer: number[] = [];
  const until = Date.now() + 120_000;
  while (os.loadavg()[0]! > 0.5 && Date.now() < until) await new Promise((res) => setTimeout(res, 2000));
  const load0 = os.loadavg()[0]!;
  if (augment) {
    console.log(`runTraining, ${model}, batch 32, ${images} generated images, ${n} threads, augment none vs ${augment}; load average ${load0.toFixed(2)} before the runs`);
    for (let round = 0; round < rounds; round++) {
      one.push(await speed(n));
      many.push(await speed(n, augment));
      console.log(`  round ${round + 1}/${rounds}: plain ${fmt(one.at(-1)!)} img/s, augmented ${fmt(many.at(-1)!)} img/s (load ${os.loadavg()[0]!.toFixed(2)}, ours included)`);
    }
    rmSync(dir, { recursive: true, force: true });
    const cost = 1 - mid(many) / mid(one);
    console.log(`Augmentation costs ${(cost * 100).toFixed(1)} % of the step time (augmented ${fmt(mid(many))} vs plain ${fmt(mid(one))} img/s, medians)${load0 > 0.5 ? ` — load ${load0.toFixed(2)} before the runs (above 0.5): not a measurement, rerun on a quiet machine` : ''}`);
    process.exit(0);
  }
  console.log(`runTraining, Fashion CNN, batch 32, ${images} generated images, threads 1 vs ${n}${useTorch ? ' vs PyTorch 2 threads' : ''}, ${os.availableParallelism()} cores; load average ${load0.toFixed(2)} before the runs`);
  for (let round = 0; round < rounds; round++) {
    one.push(await speed(1));
    many.push(await speed(n));
    if (useTorch) peer.push(torch([{ model: 'fashion', mode: 'train', batch: 32, seconds: 3, threads: 2 }])[0]!);
    console.log(`  round ${round + 1}/${rounds}: threads 1 ${fmt(one.at(-1)!)} img/s, threads ${n} ${fmt(many.at(-1)!)} img/s${useTorch ? `, PyTorch 2 threads ${fmt(peer.at(-1)!)} img/s` : ''} (load ${os.loadavg()[0]!.toFixed(2)}, ours included)`);
  }
  rmSync(dir, { recursive: true, force: true });
  if (load0 > 0.5) console.log(`No ratio: the load average was ${load0.toFixed(2)} before the runs (above 0.5), so other work shared the cores; rerun on a quiet machine.`);
  else {
    report(`Fashion CNN train b32, runTraining, ${n} threads`, mid(many), mid(one), '1 thread');
    if (useTorch) {
      report(`Fashion CNN train b32, runTraining, ${n} threads`, mid(many), mid(peer), 'PyTorch 2thr');
      // This machine's speed drifts within minutes: the ratio of runs made back to back is steadier.
      const paired = many.map((v, i) => v / peer[i]!).sort((p, q) => p - q);
      console.log(`Per-round ratio ${n} threads / PyTorch 2 threads (back-to-back runs): median ${mid(paired).toFixed(2)}x, range ${paired[0]!.toFixed(2)}–${paired.at(-1)!.toFixed(2)}x over ${paired.length} rounds`);
    }
  }
  if (busy.wall > 0) console.log(`CPU time / wall time of the ${n}-thread runs (whole runs, start-up and validation included): ${(busy.cpu / busy.wall).toFixed(2)} on ${os.availableParallelism()} cores`);
  process.exit(0);
}


// --- Fashion-MNIST CNN -------------------------------------------------------------------
// Rounds interleave wasm, PyTorch 2 threads and PyTorch 1 thread: the machine is shared and
// its load drifts within minutes; each figure is the median over rounds.
const ROUNDS = opt('rounds', QUICK ? 1 : 3);
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const fr: Record<'w32' | 'w128' | 'wInf' | 't32' | 't128' | 'tInf' | 'o32' | 'o128' | 'oInf', number[]> =
  { w32: [], w128: [], wInf: [], t32: [], t128: [], tInf: [], o32: [], o128: [], oInf: [] };
for (let round = 0; round < ROUNDS; round++) {
  const m = fashionCnn();
  fr.w32.push(await trainSpeed(m, [28, 28, 1], 10, 32));
  fr.w128.push(await trainSpeed(m, [28, 28, 1], 10, 128));
  fr.wInf.push(await inferSpeed(m, [28, 28, 1], 256));
  m.dispose();
  if (useTorch) {
    const t = torch([
      { model: 'fashion', mode: 'train', batch: 32, seconds: SECONDS },
      { model: 'fashion', mode: 'train', batch: 128, seconds: SECONDS },
      { model: 'fashion', mode: 'infer', batch: 256, seconds: SECONDS },
      // One PyTorch thread too: on a loaded machine PyTorch's 2 OpenMP threads suffer more
      // from oversubscription than our single thread, which flatters the 2-thread ratio.
      { model: 'fashion', mode: 'train', batch: 32, seconds: SECONDS, threads: 1 },
      { model: 'fashion', mode: 'train', batch: 128, seconds: SECONDS, threads: 1 },
      { model: 'fashion', mode: 'infer', batch: 256, seconds: SECONDS, threads: 1 },
    ]);
    fr.t32.push(t[0]!); fr.t128.push(t[1]!); fr.tInf.push(t[2]!);
    fr.o32.push(t[3]!); fr.o128.push(t[4]!); fr.oInf.push(t[5]!);
  }
  console.log(`round ${round + 1}/${ROUNDS}: wasm ${fr.w32.at(-1)!.toFixed(0)}/${fr.w128.at(-1)!.toFixed(0)}/${fr.wInf.at(-1)!.toFixed(0)}` +
    (useTorch ? `, torch 2thr ${fr.t32.at(-1)!.toFixed(0)}/${fr.t128.at(-1)!.toFixed(0)}/${fr.tInf.at(-1)!.toFixed(0)}, torch 1thr ${fr.o32.at(-1)!.toFixed(0)}/${fr.o128.at(-1)!.toFixed(0)}/${fr.oInf.at(-1)!.toFixed(0)}` : '') +
    ` img/s (train b32 / train b128 / infer b256), load ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
}
const fashion = { train32: median(fr.w32), train128: median(fr.w128), infer: median(fr.wInf) };
const med = (xs: number[]) => (xs.length ? median(xs) : null);
console.log('');
report('Fashion CNN train, batch 32 (wasm)', fashion.train32, med(fr.t32));
report('Fashion CNN train, batch 128 (wasm)', fashion.train128, med(fr.t128));
report('Fashion CNN inference, batch 256 (wasm)', fashion.infer, med(fr.tInf));
report('Fashion CNN train, batch 32 (wasm)', fashion.train32, med(fr.o32), 'PyTorch 1 thr');
report('Fashion CNN train, batch 128 (wasm)', fashion.train128, med(fr.o128), 'PyTorch 1 thr');
report('Fashion CNN inference, batch 256 (wasm)', fashion.infer, med(fr.oInf), 'PyTorch 1 thr');

// cpu backend, briefly (one step after one warm-up), for reference.
{
  await initBackend('cpu');
  const m = fashionCnn();
  const cpuTrain = await trainSpeed(m, [28, 28, 1], 10, 8, 0, 1);
  m.dispose();
  await initBackend('wasm');
  report('Fashion CNN train, batch 8 (TF.js cpu backend)', cpuTrain, fashion.train32, 'wasm b32');
}

// 5-epoch estimate: 60,000 training images per epoch + 10,000 test images evaluated per epoch.
const epochS = 60000 / fashion.train128 + 10000 / fashion.infer;
const epochS32 = 60000 / fashion.train32 + 10000 / fashion.infer;
console.log(`\nFashion-MNIST 5 epochs on wasm (compute only): ~${(5 * epochS32 / 60).toFixed(1)} min at batch 32, ~${(5 * epochS / 60).toFixed(1)} min at batch 128`);

// --- End-to-end Fashion-MNIST on wasm (--e2e [--epochs 5]) ------------------------------
// Real data (/work/shared/data/fashion-mnist or $FASHION_MNIST_DIR), model.fit at batch 32
// with Adam, then test accuracy: the run a user of the seed tutorial does.
if (flag('e2e')) {
  const { readFileSync } = await import('node:fs');
  const { gunzipSync } = await import('node:zlib');
  const dir = process.env.FASHION_MNIST_DIR ?? '/work/shared/data/fashion-mnist';
  const idx = (name: string, headerBytes: number) => gunzipSync(readFileSync(path.join(dir, name))).subarray(headerBytes);
  const load = (prefix: string) => {
    const img = idx(`${prefix}-images-idx3-ubyte.gz`, 16);
    const lab = idx(`${prefix}-labels-idx1-ubyte.gz`, 8);
    const n = lab.length;
    return tf.tidy(() => ({
      x: tf.tensor4d(Float32Array.from(img, (v) => v / 255), [n, 28, 28, 1]),
      y: tf.oneHot(tf.tensor1d(Int32Array.from(lab), 'int32'), 10),
    }));
  };
  const train = load('train');
  const test = load('t10k');
  const epochs = opt('epochs', 5);
  const m = fashionCnn();
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const t0 = performance.now();
  await m.fit(train.x, train.y, {
    epochs, batchSize: 32, shuffle: true, verbose: 0,
    callbacks: { onEpochEnd: async (e, logs) => console.log(`  epoch ${e + 1}/${epochs}: loss ${logs?.loss?.toFixed(4)} acc ${logs?.acc?.toFixed(4)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`) },
  });
  const trainS = (performance.now() - t0) / 1000;
  const [, acc] = m.evaluate(test.x, test.y, { batchSize: 256 }) as tf.Scalar[];
  console.log(`\nFashion-MNIST ${epochs} epoch(s) on wasm, batch 32: ${(trainS / 60).toFixed(1)} min training (${(60000 * epochs / trainS).toFixed(0)} img/s), test accuracy ${((await acc!.data())[0]! * 100).toFixed(2)}%`);
  tf.dispose([train.x, train.y, test.x, test.y]);
  m.dispose();
}

// --- MobileNetV2 160x160 -----------------------------------------------------------------
if (!flag('no-mobilenet')) {
  const size = 160;
  const fb = QUICK ? 8 : 16;
  // Training batch 8: TF.js keeps every intermediate of the step (~320 MiB per 160 px image
  // for MobileNetV2), and the wasm32 heap ends at 4 GiB (batch 16 runs out of it).
  const tb = QUICK ? 4 : 8;
  const { model, base } = await mobileNet(size);
  const fwd = await inferSpeed(model, [size, size, 3], fb);
  const train = await trainSpeed(model, [size, size, 3], 5, tb, SECONDS, 1);
  const heapMiB = ((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20).toFixed(0);
  const tm = useTorch
    ? torch([
      { model: 'mobilenet_v2', mode: 'infer', batch: fb, seconds: SECONDS, size },
      { model: 'mobilenet_v2', mode: 'train', batch: tb, seconds: SECONDS, size },
      { model: 'mobilenet_v2', mode: 'infer', batch: fb, seconds: SECONDS, size, threads: 1 },
      { model: 'mobilenet_v2', mode: 'train', batch: tb, seconds: SECONDS, size, threads: 1 },
    ])
    : [0, 0, 0, 0];
  console.log('');
  report(`MobileNetV2 ${size}px forward, batch ${fb} (wasm)`, fwd, tm[0] || null);
  report(`MobileNetV2 ${size}px train step (all layers), batch ${tb}`, train, tm[1] || null);
  report(`MobileNetV2 ${size}px forward, batch ${fb} (wasm)`, fwd, tm[2] || null, 'PyTorch 1 thr');
  report(`MobileNetV2 ${size}px train step (all layers), batch ${tb}`, train, tm[3] || null, 'PyTorch 1 thr');
  console.log(`${''.padEnd(48)} wasm heap after the train steps: ${heapMiB} MiB`);

  // Frozen base: wasm vs onnxruntime-node on the same exported graph.
  if (!flag('no-onnx')) {
    try {
      const { layersModelToOnnx } = await import('../src/main/ml/export/onnx');
      const ort = await import('onnxruntime-node');
      const onnx = layersModelToOnnx(base);
      const x = tf.randomUniform([fb, size, size, 3], -1, 1);
      const xv = (await x.data()) as Float32Array;
      const ref = base.predict(x) as tf.Tensor;
      const refV = (await ref.data()) as Float32Array;
      ref.dispose();
      const baseWasm = await inferSpeed(base, [size, size, 3], fb);
      for (const threads of [1, 2]) {
        const sess = await ort.InferenceSession.create(onnx.bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
        const feeds = { [onnx.inputName]: new ort.Tensor('float32', xv, [fb, size, size, 3]) };
        const outV = (await sess.run(feeds))[onnx.outputName]!.data as Float32Array;
        let maxDiff = 0;
        let maxRef = 0;
        for (let i = 0; i < refV.length; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(outV[i]! - refV[i]!));
          maxRef = Math.max(maxRef, Math.abs(refV[i]!));
        }
        const { median } = await timeSteps(async () => {
          await sess.run(feeds);
        });
        await sess.release();
        report(`MobileNetV2 ${size}px frozen base, onnxruntime ${threads} thr`, fb / median, baseWasm, 'wasm');
        console.log(`${''.padEnd(48)} max |onnx - wasm| feature difference: ${maxDiff.toExponential(2)} (features up to ${maxRef.toExponential(2)})`);
      }
      x.dispose();
    } catch (e) {
      console.log(`onnxruntime comparison skipped: ${(e as Error).message}`);
    }
  }
  model.dispose();

  // Fine-tuning from block_11 (the tutorial's layer 100): the whole model under the tape against
  // the app's plan (frozen bottom forward-only on onnxruntime, only the top on the tape).
  if (!flag('no-onnx')) {
    const { buildTransferModel } = await import('../src/main/ml/models');
    const { fineTuneStartIndex, unfreezeTop } = await import('../src/main/ml/training/recipes');
    const { splitAtFrozenBottom } = await import('../src/main/ml/training/frozen-split');
    const { createFeatureExtractor } = await import('../src/main/ml/backend');
    const t = buildTransferModel('mobilenetv2', { inputShape: [size, size, 3], numClasses: 2 });
    unfreezeTop(t.base, fineTuneStartIndex(t.base, 'block_11_expand_relu'));
    const whole = await trainSpeed(t.model, [size, size, 3], 2, tb, SECONDS, 1);
    const split = splitAtFrozenBottom(t.model, t.base)!;
    const bottom = await createFeatureExtractor(split.bottom);
    const sb = 32;
    const px = Float32Array.from({ length: sb * size * size * 3 }, (_, i) => Math.sin(i * 12.9898));
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: sb }, (_, i) => i % 2), 'int32'), 2);
    split.top.compile({ optimizer: tf.train.adam(1e-4), loss: 'categoricalCrossentropy' });
    const { median } = await timeSteps(async () => {
      const a = tf.tensor4d(await bottom.extract(px, sb), [sb, ...(split.cutShape as [number, number, number])]);
      await split.top.trainOnBatch(a, y);
      a.dispose();
    }, SECONDS, 1);
    report(`MobileNetV2 ${size}px fine-tune from block_11, batch ${sb} (${bottom.engine} bottom + wasm top)`, sb / median, whole, `whole, b${tb}`);
    await bottom.dispose();
    y.dispose();
    split.top.dispose();
    t.model.dispose();
  }
}

console.log('\n| measurement | ours img/s | peer img/s | ratio |\n|---|---:|---:|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
process.exit(0);
