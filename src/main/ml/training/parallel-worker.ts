/**
 * A data-parallel training thread (started by parallel-step.ts): its own wasm backend and copy of
 * the model; per message, loads the step's weights, computes the loss and gradients of its slice
 * of the batch and writes them (then its updated BN moving statistics) into its shared buffer.
 */
import * as tf from '@tensorflow/tfjs'
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { initBackend } from '../backend'
import { crossEntropy, flatLayers, isDropout } from './loop'
import { stepVariables, type FromWorker, type SliceJob, type WorkerSetup } from './parallel-step'
import { forceInferenceMode } from './recipes'

const setup = workerData as WorkerSetup
await initBackend('wasm')
const model = await tf.models.modelFromJSON(setup.topology as tf.io.ModelJSON['modelTopology'] as never)
tf.tidy(() => model.setWeights(setup.weights.map((w, i) => tf.tensor(w, model.weights[i]!.shape as number[]))))
const layers = flatLayers(model)
for (const i of setup.inferenceBn) forceInferenceMode(layers[i]!)
const dropouts = layers.filter(isDropout) as unknown as { seed?: number }[]
const sv = stepVariables(model)
const weightsIn = new Float32Array(setup.memory, setup.weightsAt, sv.total)
const out = new Float32Array(setup.memory, setup.outAt, sv.total)
const classWeights = setup.classWeights ? tf.tensor1d(setup.classWeights) : null
const heap = tf.backend() as unknown as { typedArrayFromHeap(t: tf.Tensor): Float32Array }

function loadWeights(): void {
  tf.tidy(() => sv.vars.forEach((v, i) => v.assign(tf.tensor(weightsIn.subarray(sv.offsets[i], sv.offsets[i]! + v.size), v.shape))))
}

function step(job: SliceJob): FromWorker {
  loadWeights()
  dropouts.forEach((d, i) => (d.seed = job.seeds[i]))
  const x = tf.tensor(job.x, job.shape)
  const labels = tf.tensor1d(job.labels, 'int32')
  let correct: tf.Scalar | null = null
  const { value, grads } = tf.variableGrads(() => {
    const probs = model.apply(x, { training: true }) as tf.Tensor
    correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(probs, -1), labels), 'float32')) as tf.Scalar)
    return crossEntropy(probs, labels, setup.numClasses, classWeights, setup.labelSmoothing)
  }, sv.vars.slice(0, sv.trainable))
  // Straight from the wasm heap into the shared buffer (dataSync would copy twice).
  for (let i = 0; i < sv.trainable; i++) out.set(heap.typedArrayFromHeap(grads[sv.vars[i]!.name]!), sv.offsets[i])
  for (let i = sv.trainable; i < sv.vars.length; i++) out.set(heap.typedArrayFromHeap(sv.vars[i]!), sv.offsets[i])
  const result: FromWorker = { type: 'done', loss: value.dataSync()[0]!, correct: (correct as unknown as tf.Scalar).dataSync()[0]! }
  tf.dispose([x, labels, value, correct as unknown as tf.Scalar, ...Object.values(grads)])
  return result
}

parentPort!.on('message', (job: SliceJob) => parentPort!.postMessage(step(job)))
parentPort!.postMessage({ type: 'ready', threadId, shapes: sv.vars.map((v) => v.shape) } satisfies FromWorker)
