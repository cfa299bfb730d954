/**
 * One SGD step of the Fashion-MNIST CNN (333,526 params) on the wasm backend (with our
 * gradient kernels) against the same step on TF.js's reference cpu backend: same initial
 * weights, same batch, same dropout seed; the weight updates must agree.
 * Plus: a MobileNetV2-like block (ZeroPadding, DepthwiseConv2D stride 1 and 2, BN, ReLU6,
 * Add) and a BatchNormalization CNN train on wasm with the same updates as on cpu.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/main/ml/backend';
import { mulberry32 as rng } from '../../src/main/ml/training/rng';


function fashionCnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 100, activation: 'relu' }));
  m.add(tf.layers.dropout({ rate: 0.5, seed: 7 }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  return m;
}

function mobileBlock(): tf.LayersModel {
  const inp = tf.input({ shape: [12, 12, 3] });
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  let y = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ maxValue: 6 }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization().apply(y) as tf.SymbolicTensor;
  x = tf.layers.add().apply([x, y]) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: inp, outputs: out });
}

function bnCnn(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }));
  m.add(tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 4, activation: 'softmax' }));
  return m;
}

/**
 * Builds the model on a backend with the given initial weights, runs one SGD step and
 * returns the weights after it (all weights, trainable and BN moving statistics).
 */
async function stepOn(backend: 'cpu' | 'wasm', build: () => tf.LayersModel, init: Float32Array[] | null, x: Float32Array, xShape: number[], labels: number[], classes: number) {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const be = tf.backend() as unknown as { numDataIds(): number };
  const idsBefore = be.numDataIds();
  const buffersBefore = tf.memory().numDataBuffers;
  const model = init ? build() : seededBuild(build);
  if (init) {
    const ws = init.map((v, i) => tf.tensor(v, model.getWeights()[i]!.shape));
    model.setWeights(ws);
    tf.dispose(ws);
  }
  const initial = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor(x, xShape);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes));
  const loss = (await model.trainOnBatch(xs, ys)) as number;
  const after = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  tf.dispose([xs, ys]);
  model.dispose();
  // The gradient kernels free every intermediate buffer: the backend holds exactly the
  // buffers the engine knows about.
  expect(be.numDataIds() - idsBefore).toBe(tf.memory().numDataBuffers - buffersBefore);
  return { initial, after, loss, leaked: tf.memory().numTensors - before };
}

/**
 * Builds with Math.random seeded: TF.js's initializers draw their seeds from it, so the
 * random initial weights (and with them the size of every update) are the same each run.
 * Unseeded, a cancelling BN gamma gradient now and then made a 1e-6 difference look large.
 */
function seededBuild(build: () => tf.LayersModel): tf.LayersModel {
  const original = Math.random;
  Math.random = rng(12345);
  try {
    return build();
  } finally {
    Math.random = original;
  }
}

/**
 * max |Δwasm - Δcpu| / max |Δcpu| over each weight tensor. An update is read back as
 * after - before, so it is only known to the weights' float32 resolution (one ulp at the
 * largest weight): a BN moving variance near 1 moving by 1e-3 is known to about 1e-4 of
 * its update. The denominator is therefore at least 2e4 ulps, so with the 1e-4 bound two
 * ulps of read-back rounding pass and a wrong gradient (errors near 1) does not.
 */
function updateErrors(init: Float32Array[], a: Float32Array[], b: Float32Array[]): number[] {
  return init.map((w0, i) => {
    let diff = 0;
    let ref = 0;
    let magnitude = 0;
    for (let j = 0; j < w0.length; j++) {
      const da = a[i]![j]! - w0[j]!;
      const db = b[i]![j]! - w0[j]!;
      diff = Math.max(diff, Math.abs(da - db));
      ref = Math.max(ref, Math.abs(db));
      magnitude = Math.max(magnitude, Math.abs(w0[j]!), Math.abs(b[i]![j]!));
    }
    const ulp = magnitude * 2 ** -23;
    return diff / Math.max(ref, 2e4 * ulp, Number.MIN_VALUE);
  });
}

async function compare(build: () => tf.LayersModel, xShape: number[], classes: number, seed: number) {
  const r = rng(seed);
  const n = xShape[0]!;
  const x = Float32Array.from({ length: xShape.reduce((p, q) => p * q, 1) }, () => r());
  const labels = Array.from({ length: n }, (_, i) => i % classes);
  const cpu = await stepOn('cpu', build, null, x, xShape, labels, classes);
  const wasm = await stepOn('wasm', build, cpu.initial, x, xShape, labels, classes);
  expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
  // Whatever tf.layers keeps after a step, it keeps the same on both backends.
  expect(wasm.leaked).toBe(cpu.leaked);
  const errs = updateErrors(cpu.initial, wasm.after, cpu.after);
  // Every weight moved on cpu (the step did something) ...
  expect(cpu.after.some((w, i) => w.some((v, j) => v !== cpu.initial[i]![j]))).toBe(true);
  if (process.env.BACKEND_TEST_VERBOSE) console.log('update errors', errs.map((e) => e.toExponential(1)).join(' '));
  return errs;
}

describe('training on wasm equals training on cpu', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('Fashion-MNIST CNN: one SGD step gives the same weight updates', async () => {
    const errs = await compare(fashionCnn, [4, 28, 28, 1], 10, 1);
    expect(errs).toHaveLength(8);
    for (const e of errs) expect(e).toBeLessThan(1e-4);
  });

  it('MobileNetV2-like block (depthwise stride 1/2, BN, ReLU6, Add) and a BN CNN: same updates', async () => {
    for (const e of await compare(mobileBlock, [3, 12, 12, 3], 4, 2)) expect(e).toBeLessThan(1e-4);
    for (const e of await compare(bnCnn, [5, 12, 12, 1], 4, 3)) expect(e).toBeLessThan(1e-4);
  });
});
