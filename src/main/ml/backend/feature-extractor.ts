/**
 * Frozen-base forward pass for transfer learning (features computed once per image and
 * cached): picks the fastest engine that predicts the same features.
 *
 * On these machines onnxruntime-node runs MobileNetV2 (160 px) about 6x faster than the
 * TF.js wasm backend (bench/train.ts prints both), so 'auto' converts the base to ONNX
 * with the export domain's converter and uses onnxruntime when its features match TF.js's
 * on a probe batch (max abs diff <= 1e-4); otherwise, or when the conversion or
 * onnxruntime is unavailable, it runs the base on the current TF.js backend. On the
 * native TF.js backends (tfjs-node / -gpu) 'auto' keeps TF.js.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';

export type FeatureEngine = 'onnxruntime' | 'tfjs';

export interface FeatureExtractorOptions {
  /** 'auto' (default): onnxruntime if it matches TF.js, else TF.js. */
  prefer?: 'auto' | FeatureEngine;
  /** onnxruntime intra-op threads (default: every core, os.availableParallelism()). */
  threads?: number;
  /** Largest allowed |onnxruntime - TF.js| on the probe batch (default 1e-4). */
  tolerance?: number;
}

export interface FeatureExtractorInfo {
  engine: FeatureEngine;
  /** Why this engine (and why the other was not used). */
  reason: string;
  threads: number;
  /** Max |onnxruntime - TF.js| on the probe batch, when both ran. */
  probeMaxAbsDiff?: number;
  inputShape: [number, number, number];
  /** Feature shape per image, e.g. [5, 5, 1280]. */
  outputShape: number[];
}

export interface FeatureExtractor extends FeatureExtractorInfo {
  /**
   * Features of n images given as NHWC float32 (already preprocessed the way the base
   * expects, e.g. x/127.5 - 1 for MobileNetV2). Returns n * prod(outputShape) floats.
   */
  extract(x: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

function defaultThreads(): number {
  return Math.max(1, os.availableParallelism());
}

function tfjsExtractor(base: tf.LayersModel, inputShape: [number, number, number], outputShape: number[], reason: string, extra: Partial<FeatureExtractorInfo> = {}): FeatureExtractor {
  return {
    engine: 'tfjs',
    reason,
    threads: 1,
    inputShape,
    outputShape,
    ...extra,
    async extract(x, n) {
      checkInput(x, n, inputShape);
      const t = tf.tensor4d(x, [n, ...inputShape]);
      try {
        const y = base.predict(t) as tf.Tensor;
        try {
          return (await y.data()) as Float32Array;
        } finally {
          y.dispose();
        }
      } finally {
        t.dispose();
      }
    },
    async dispose() {},
  };
}

function checkInput(x: Float32Array, n: number, inputShape: number[]): void {
  const per = inputShape.reduce((a, b) => a * b, 1);
  if (!Number.isInteger(n) || n < 1 || x.length !== n * per) {
    throw new Error(`Feature extractor: expected ${n} images of shape [${inputShape.join(', ')}] (${n * per} floats), got ${x.length} floats.`);
  }
}

/**
 * Builds the extractor for a frozen base (a model whose output is the feature map).
 * The base itself is not disposed by the extractor.
 */
export async function createFeatureExtractor(base: tf.LayersModel, opts: FeatureExtractorOptions = {}): Promise<FeatureExtractor> {
  const prefer = opts.prefer ?? 'auto';
  const tolerance = opts.tolerance ?? 1e-4;
  const threads = opts.threads ?? defaultThreads();
  const inShape = base.inputs[0]?.shape;
  if (!inShape || inShape.length !== 4 || inShape.slice(1).some((d) => d == null)) {
    throw new Error(`Feature extractor: the base must take fixed-size images [N, H, W, C]; its input shape is [${inShape}].`);
  }
  const inputShape = inShape.slice(1) as [number, number, number];
  const outputShape = (base.outputs[0]!.shape.slice(1) as number[]);
  if (prefer === 'tfjs') return tfjsExtractor(base, inputShape, outputShape, 'TF.js was requested');
  if (prefer === 'auto' && tf.getBackend() === 'tensorflow') {
    return tfjsExtractor(base, inputShape, outputShape, 'the native TensorFlow backend is in use (as fast as onnxruntime)');
  }

  let session: import('onnxruntime-node').InferenceSession | null = null;
  try {
    const [{ layersModelToOnnx }, ort] = await Promise.all([import('../export/onnx'), import('onnxruntime-node')]);
    const onnx = layersModelToOnnx(base);
    session = await ort.InferenceSession.create(onnx.bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const sess = session;
    const run = async (x: Float32Array, n: number) => {
      checkInput(x, n, inputShape);
      const out = await sess.run({ [onnx.inputName]: new ort.Tensor('float32', x, [n, ...inputShape]) });
      return out[onnx.outputName]!.data as Float32Array;
    };
    // Probe: two random images in the base's usual input range through both engines.
    const per = inputShape.reduce((a, b) => a * b, 1);
    const probe = Float32Array.from({ length: 2 * per }, (_, i) => Math.sin(i * 12.9898) * 0.999);
    const [a, b] = [await run(probe, 2), await tfjsExtractor(base, inputShape, outputShape, '').extract(probe, 2)];
    let diff = 0;
    for (let i = 0; i < b.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    if (a.length !== b.length || !(diff <= tolerance)) {
      await sess.release();
      session = null;
      return tfjsExtractor(base, inputShape, outputShape,
        `onnxruntime's features differ from TF.js's (max abs diff ${diff.toExponential(2)} > ${tolerance}); using TF.js`, { probeMaxAbsDiff: diff });
    }
    return {
      engine: 'onnxruntime',
      reason: `onnxruntime matches TF.js on a probe batch (max abs diff ${diff.toExponential(2)}) and is faster for forward-only passes; ${threads} intra-op thread(s) on ${os.availableParallelism()} core(s)`,
      threads,
      probeMaxAbsDiff: diff,
      inputShape,
      outputShape,
      extract: run,
      async dispose() {
        await sess.release();
      },
    };
  } catch (e) {
    if (session) await session.release().catch(() => undefined);
    if (prefer === 'onnxruntime') throw new Error(`Feature extractor: onnxruntime was requested but failed: ${(e as Error).message}`);
    return tfjsExtractor(base, inputShape, outputShape, `onnxruntime unavailable for this base (${(e as Error).message.split('\n')[0]}); using TF.js`);
  }
}
