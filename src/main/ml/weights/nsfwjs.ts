import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { WeightsReport } from '../../../shared/models'
import type { AssignOptions } from './assign'
import { loadTfjsArtifactsWeights } from './tfjs'

/**
 * nsfwjs@4.4.0 ships a Keras 2.2.4 MobileNetV2 (alpha 1.0, 224x224, every block with ImageNet
 * weights; blocks 0..10 were kept frozen by its authors, later blocks fine-tuned) plus its own
 * 5-class top (average_pooling2d_1, flatten_1, dense_1..3). The files are UMD bundles:
 *   dist/models/mobilenet_v2/model.min.js          -> module.exports = {modelTopology, weightsManifest}
 *   dist/models/mobilenet_v2/group1-shard1of1.min.js -> module.exports = "<base64 of the weight shard>"
 * Weights are uint8-quantised; tf.io.decodeWeights dequantises them.
 */
export const NSFWJS_MOBILENET_DIR = 'nsfwjs/dist/models/mobilenet_v2'

/** Evaluates a UMD bundle as CommonJS without touching the module system (works whatever the package type). */
function evalUmd(file: string): unknown {
  const src = readFileSync(file, 'utf8')
  const module = { exports: {} as unknown }
  new Function('module', 'exports', 'define', 'require', src)(module, module.exports, undefined, undefined)
  return module.exports
}

/** Where nsfwjs's MobileNetV2 files are, or null when nsfwjs is not installed. */
export function findNsfwjsMobileNetDir(from: string = process.cwd()): string | null {
  const candidates: string[] = []
  try {
    const req = createRequire(join(from, 'noop.js'))
    candidates.push(join(dirname(req.resolve('nsfwjs/package.json')), 'dist/models/mobilenet_v2'))
  } catch {
    /* not resolvable via exports map; fall back to node_modules lookup */
  }
  let d = from
  for (;;) {
    candidates.push(join(d, 'node_modules', NSFWJS_MOBILENET_DIR))
    const up = dirname(d)
    if (up === d) break
    d = up
  }
  return candidates.find((c) => existsSync(join(c, 'model.min.js')) && existsSync(join(c, 'group1-shard1of1.min.js'))) ?? null
}

/** Reads nsfwjs's MobileNetV2 as TF.js model artifacts (topology + dequantisable weights), offline. */
export function readNsfwjsMobileNetV2(dir: string | null = findNsfwjsMobileNetDir()): tf.io.ModelArtifacts {
  if (!dir)
    throw new AppError(
      'NOT_FOUND',
      'The offline MobileNetV2 weights (from the nsfwjs package) are not installed.',
      'Install them with `npm install nsfwjs@4.4.0`, let the app download the official Keras weights, or pass a weights file (--base-weights PATH).',
    )
  const model = evalUmd(join(dir, 'model.min.js')) as { modelTopology: object; weightsManifest: tf.io.WeightsManifestConfig }
  const shard = evalUmd(join(dir, 'group1-shard1of1.min.js'))
  if (typeof shard !== 'string' || !model?.modelTopology || !model.weightsManifest)
    throw new AppError('INVALID_INPUT', `The nsfwjs model files in ${dir} do not have the expected layout (model.min.js exporting {modelTopology, weightsManifest}, shard exporting base64).`, 'Use nsfwjs@4.4.0.')
  const buf = Buffer.from(shard, 'base64')
  const weightData = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
  const weightSpecs = model.weightsManifest.flatMap((g) => g.weights)
  return { modelTopology: model.modelTopology, weightSpecs, weightData, format: 'layers-model' }
}

/** Loads nsfwjs's ImageNet-derived MobileNetV2 weights into a MobileNetV2 (alpha 1.0) by layer name. */
export function loadNsfwjsMobileNetV2Weights(model: tf.LayersModel, opts: AssignOptions & { dir?: string } = {}): WeightsReport {
  const art = readNsfwjsMobileNetV2(opts.dir ?? findNsfwjsMobileNetDir())
  return loadTfjsArtifactsWeights(model, art, { source: 'nsfwjs MobileNetV2 (offline weights)', ...opts })
}
