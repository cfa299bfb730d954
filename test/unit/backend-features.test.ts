/**
 * createFeatureExtractor: onnxruntime runs the frozen base with the same features as TF.js
 * (checked on a fresh batch, not only the probe), and falls back to TF.js, saying why, when
 * the base cannot be converted.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { createFeatureExtractor, initBackend } from '../../src/main/ml/backend';

function mobileLikeBase(): tf.LayersModel {
  const inp = tf.input({ shape: [32, 32, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: x });
  // Non-trivial BatchNormalization statistics so the comparison means something.
  const ws = m.getWeights().map((w, i) => tf.tidy(() => (w.shape.length === 1 ? tf.randomUniform(w.shape, 0.5, 1.5, 'float32', i) : w.clone())));
  m.setWeights(ws);
  tf.dispose(ws);
  return m;
}

describe('frozen-base feature extractor', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('uses onnxruntime when its features match TF.js, and they match on new images', async () => {
    const base = mobileLikeBase();
    const fx = await createFeatureExtractor(base);
    try {
      expect(fx.engine).toBe('onnxruntime');
      expect(fx.outputShape).toEqual([8, 8, 16]);
      expect(fx.probeMaxAbsDiff!).toBeLessThanOrEqual(1e-4);
      const n = 3;
      const x = tf.randomUniform([n, 32, 32, 3], -1, 1, 'float32', 7);
      const xv = (await x.data()) as Float32Array;
      const ref = tf.tidy(() => base.predict(x) as tf.Tensor);
      const refV = (await ref.data()) as Float32Array;
      const got = await fx.extract(xv, n);
      expect(got.length).toBe(refV.length);
      let diff = 0;
      let scale = 0;
      for (let i = 0; i < got.length; i++) {
        diff = Math.max(diff, Math.abs(got[i]! - refV[i]!));
        scale = Math.max(scale, Math.abs(refV[i]!));
      }
      expect(scale).toBeGreaterThan(0.1);
      expect(diff).toBeLessThanOrEqual(1e-4);
      tf.dispose([x, ref]);
      await expect(fx.extract(xv, n + 1)).rejects.toThrow(/expected 4 images/);
    } finally {
      await fx.dispose();
      base.dispose();
    }
  });

  it('runs onnxruntime on every core by default, says so, and gives the features of one thread', async () => {
    const base = mobileLikeBase();
    const all = await createFeatureExtractor(base, { prefer: 'onnxruntime' });
    const one = await createFeatureExtractor(base, { prefer: 'onnxruntime', threads: 1 });
    try {
      expect(all.threads).toBe(availableParallelism());
      expect(all.reason).toContain(`${availableParallelism()} intra-op thread(s) on ${availableParallelism()} core(s)`);
      expect(one.threads).toBe(1);
      const n = 8;
      const x = Float32Array.from({ length: n * 32 * 32 * 3 }, (_, i) => Math.cos(i * 0.731));
      expect(await all.extract(x, n)).toEqual(await one.extract(x, n));
    } finally {
      await Promise.all([all.dispose(), one.dispose()]);
      base.dispose();
    }
  });

  it('falls back to TF.js, saying why, for a base the ONNX converter does not support', async () => {
    const inp = tf.input({ shape: [8, 8, 2] });
    const up = tf.layers.upSampling2d({ size: [2, 2] }).apply(inp) as tf.SymbolicTensor;
    const base = tf.model({ inputs: inp, outputs: up });
    const fx = await createFeatureExtractor(base);
    expect(fx.engine).toBe('tfjs');
    expect(fx.reason).toMatch(/onnxruntime unavailable/);
    const x = Float32Array.from({ length: 8 * 8 * 2 }, (_, i) => i);
    const y = await fx.extract(x, 1);
    expect(y.length).toBe(16 * 16 * 2);
    expect(y[0]).toBe(0);
    expect(y[2]).toBe(0); // pixel (0,1) repeats pixel (0,0)
    await fx.dispose();
    base.dispose();
    const forced = await createFeatureExtractor(mobileLikeBase(), { prefer: 'tfjs' });
    expect(forced.engine).toBe('tfjs');
  });
});
