/**
 * initBackend: picks the fastest backend present, says why the faster ones were skipped,
 * is idempotent, switches on an explicit request, rejects unknown names.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { describeBackend, initBackend, WASM_GRADIENT_KERNELS } from '../../src/main/ml/backend';

const require = createRequire(import.meta.url);
const installed = (pkg: string) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

describe('initBackend', () => {
  it("'auto' picks the fastest backend present and explains the choice", async () => {
    expect(describeBackend()).toBeNull();
    const info = await initBackend();
    expect(tf.getBackend()).toBe(info.tfBackend);
    if (!installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node')) {
      // This machine: no native TensorFlow, so wasm with our gradient kernels.
      expect(info.name).toBe('wasm');
      expect(info.reason).toMatch(/@tensorflow\/tfjs-node-gpu is not installed/);
      expect(info.reason).toMatch(/@tensorflow\/tfjs-node is not installed/);
      expect(info.threads).toBeGreaterThanOrEqual(1);
      for (const k of WASM_GRADIENT_KERNELS) expect(tf.getKernel(k.name, 'wasm')).toBeDefined();
    }
    expect(info.canTrain).toBe(true);
    // Idempotent: same result object, no re-initialisation.
    expect(await initBackend()).toBe(info);
    expect(await initBackend('auto')).toBe(info);
    expect(describeBackend()).toBe(info);
  });

  it('switches on an explicit request and rejects unknown names', async () => {
    const cpu = await initBackend('cpu');
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(cpu.reason).toBe('cpu was requested');
    const wasm = await initBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    // Concurrent calls share one initialisation.
    const [a, b] = await Promise.all([initBackend('wasm'), initBackend('wasm')]);
    expect(a).toBe(b);
    await expect(initBackend('webgl' as never)).rejects.toThrow(/unknown backend 'webgl'.*auto, tensorflow-gpu, tensorflow, wasm, cpu/);
  });
});
