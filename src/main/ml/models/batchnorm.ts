import * as tf from '@tensorflow/tfjs'

const PATCHED = Symbol.for('classifier-studio.bn-inference')

/**
 * Keeps every BatchNormalization layer of `model` (nested models included) in inference mode:
 * it normalises with its moving statistics and never updates them, even inside fit() and even
 * when its gamma/beta are unfrozen for fine-tuning. This is what Keras does for a base called
 * with `base(x, training=False)` (keras.io transfer-learning guide); TF.js would otherwise use
 * batch statistics in fit() and overwrite the ImageNet moving mean/variance, frozen or not.
 * Idempotent; works on freshly built and on reloaded models. Returns the number of BN layers.
 */
export function keepBatchNormInInference(model: tf.LayersModel): number {
  let n = 0
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) visit(l.layers)
      else if (l.getClassName() === 'BatchNormalization') {
        n++
        const rec = l as unknown as Record<PropertyKey, unknown> & { call: (i: tf.Tensor | tf.Tensor[], k: Record<string, unknown>) => tf.Tensor | tf.Tensor[] }
        if (rec[PATCHED]) continue
        const original = rec.call.bind(l)
        rec.call = (inputs, kwargs) => original(inputs, { ...(kwargs ?? {}), training: false })
        rec[PATCHED] = true
      }
    }
  }
  visit(model.layers)
  return n
}

/** Whether keepBatchNormInInference was applied to this layer. */
export function isBatchNormInInference(layer: tf.layers.Layer): boolean {
  return Boolean((layer as unknown as Record<PropertyKey, unknown>)[PATCHED])
}
