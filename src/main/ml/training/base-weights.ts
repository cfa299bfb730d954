import type * as tf from '@tensorflow/tfjs'
import { stat } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { AppError } from '../../../shared/errors'
import { NSFWJS_WEIGHTS_ID, type PreprocessSpec, type WeightsReport } from '../../../shared/models'
import { preprocessFor, RESCALE_01 } from '../models'
import type { BaseName } from '../../../shared/training'
import { loadKerasH5Weights, loadNsfwjsMobileNetV2Weights, loadTfjsLayersWeights, WeightsManager, weightsNameFor } from '../weights'

function describe(r: WeightsReport): string {
  return `${r.loaded.length} layers loaded, ${r.missing.length} left as initialised${r.mismatched.length ? `, ${r.mismatched.length} mismatched` : ''}`
}

export { NSFWJS_WEIGHTS_ID }

/**
 * The input scaling that goes with a base's weights. Keras's ImageNet files want the base's
 * preprocess_input; the nsfwjs weights were last trained on x/255 (nsfwjs divides by 255), and
 * with it their features separate cats from dogs far better (84 % against 76 % validation
 * accuracy for a linear head).
 */
export function preprocessForWeights(name: BaseName, weightsId: string): PreprocessSpec {
  return weightsId === NSFWJS_WEIGHTS_ID ? RESCALE_01 : preprocessFor(name)
}

/**
 * Pretrained weights for a transfer base: `path` (Keras .h5 or TF.js model.json) when given,
 * else the offline MobileNetV2 weights shipped in the nsfwjs package. Returns an id of the
 * weights (part of the feature-cache key).
 */
export async function loadBaseWeights(base: tf.LayersModel, name: BaseName, path: string | undefined, log: (m: string) => void): Promise<string> {
  if (path) {
    const file = resolve(path)
    let st
    try {
      st = await stat(file)
    } catch {
      throw new AppError('NOT_FOUND', `--base-weights ${path}: no such file.`, 'Give a Keras .h5 weights file (include_top=False) or a TF.js model.json.')
    }
    let r: WeightsReport
    if (/\.(h5|hdf5|keras)$/i.test(file)) r = await loadKerasH5Weights(base, file, { source: file })
    else if (/\.json$/i.test(file)) r = await loadTfjsLayersWeights(base, file, { source: file })
    else throw new AppError('INVALID_INPUT', `--base-weights ${path}: expected a Keras .h5 file or a TF.js model.json.`)
    if (r.loaded.length === 0) throw new AppError('INVALID_INPUT', `--base-weights ${path} has no weights for any layer of ${base.name}.`, `Use ${name} weights without top (include_top=False).`)
    log(`Base weights from ${file}: ${describe(r)}.`)
    return `file:${file}:${st.size}:${Math.round(st.mtimeMs)}`
  }
  // Official Keras ImageNet weights the user downloaded (`classifier-studio weights download`).
  const inputSize = base.inputs[0]?.shape[1] ?? 224
  const official = await new WeightsManager().cached(weightsNameFor(name, { inputSize }))
  if (official) {
    const r = await loadKerasH5Weights(base, official.path, { source: official.path })
    log(`Base weights: Keras ImageNet ${basename(official.path)} (downloaded copy): ${describe(r)}.`)
    return `keras:${basename(official.path)}`
  }
  if (name === 'mobilenetv2') {
    const r = loadNsfwjsMobileNetV2Weights(base)
    log(`Base weights: offline MobileNetV2 from nsfwjs (ImageNet-derived, blocks 0-10): ${describe(r)}.`)
    return NSFWJS_WEIGHTS_ID
  }
  throw new AppError('NOT_FOUND', `No offline weights for ${name} are available.`, `Download them with \`classifier-studio weights download ${name}\` (or pass a Keras ${name} include_top=False .h5 you have with --base-weights PATH).`)
}
