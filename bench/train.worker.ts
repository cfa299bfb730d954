/**
 * Worker for bench/train.ts --parallel: holds its own wasm backend and a copy of the model;
 * per message, loads the main thread's weights, computes the gradients of its share of the
 * batch and sends them back (data-parallel training across worker_threads).
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/main/ml/backend';

await initBackend('wasm');
const model = await tf.models.modelFromJSON(workerData.modelJson as tf.io.ModelJSON['modelTopology'] as never);
const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
interface Job { weights: Float32Array[]; x: Float32Array; xShape: number[]; y: Float32Array; classes: number }
parentPort!.on('message', (msg: Job) => {
  tf.tidy(() => msg.weights.forEach((w, i) => vars[i]!.assign(tf.tensor(w, vars[i]!.shape))));
  const xs = tf.tensor(msg.x, msg.xShape);
  const ys = tf.tensor2d(msg.y, [msg.xShape[0]!, msg.classes]);
  const { value, grads } = tf.variableGrads(
    () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  const out = vars.map((v) => grads[v.name]!.dataSync() as Float32Array);
  const loss = value.dataSync()[0];
  tf.dispose([xs, ys, value, ...Object.values(grads)]);
  parentPort!.postMessage({ grads: out, loss }, out.map((g) => g.buffer as ArrayBuffer));
});
parentPort!.postMessage({ ready: true });
