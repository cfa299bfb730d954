import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'

/**
 * Folds a temperature T into the model's last layer, Dense with softmax activation (every model
 * of the app ends so): softmax((x W + b) / T) = softmax(x (W / T) + b / T), so dividing the kernel
 * and the bias by T gives exactly the calibrated probabilities with no new layer type, and every
 * export format (TF.js, Keras .h5, ONNX) carries it as ordinary weights. Returns a function that
 * puts the original weights back (for a caller that keeps the model).
 */
export function foldTemperature(model: tf.LayersModel, temperature: number): () => void {
  const head = model.layers[model.layers.length - 1]
  const activation = (head.getConfig() as { activation?: unknown }).activation
  if (head.getClassName() !== 'Dense' || activation !== 'softmax')
    throw new AppError('INTERNAL', `Cannot apply the run's temperature ${temperature}: the model's last layer is ${head.getClassName()} (${String(activation)}), not Dense with softmax.`, 'Every model the app builds ends in Dense(softmax): train this run again, then export.')
  const original = head.getWeights().map((w) => w.clone())
  const scaled = original.map((w) => tf.div(w, temperature))
  head.setWeights(scaled)
  tf.dispose(scaled)
  return () => {
    head.setWeights(original)
    tf.dispose(original)
  }
}
