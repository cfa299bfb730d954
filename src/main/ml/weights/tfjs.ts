import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { WeightsReport } from '../../../shared/models'
import { assignWeights, type AssignOptions, type StoredWeight } from './assign'

/** TF.js weight name -> its layer's name: "block_1_expand/kernel" -> "block_1_expand" (nested: "model/block_1_expand/kernel"). */
export function layerOfWeight(name: string): string {
  const parts = name.split('/')
  return parts.length >= 2 ? parts[parts.length - 2] : parts[0]
}

/** Group decoded TF.js weights by layer name (dequantising uint8/uint16/float16 weights). */
export function groupTfjsWeights(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): { layers: Map<string, StoredWeight[]>; dispose: () => void } {
  const named = tf.io.decodeWeights(data, specs)
  const layers = new Map<string, StoredWeight[]>()
  for (const spec of specs) {
    const t = named[spec.name]
    const ln = layerOfWeight(spec.name)
    if (!layers.has(ln)) layers.set(ln, [])
    layers.get(ln)!.push({ name: spec.name, shape: spec.shape, read: () => Float32Array.from(t.dataSync() as ArrayLike<number>) })
  }
  return { layers, dispose: () => tf.dispose(Object.values(named)) }
}

/** Loads weights given as TF.js artifacts (weightSpecs + weightData) into the model by layer name. */
export function loadTfjsArtifactsWeights(model: tf.LayersModel, artifacts: Pick<tf.io.ModelArtifacts, 'weightSpecs' | 'weightData'>, opts: AssignOptions = {}): WeightsReport {
  if (!artifacts.weightSpecs || !artifacts.weightData)
    throw new AppError('INVALID_INPUT', `${opts.source ?? 'The TF.js model'} has no weights.`, 'Expected a model.json with a weightsManifest and its .bin shards.')
  const data = Array.isArray(artifacts.weightData) ? concatBuffers(artifacts.weightData) : artifacts.weightData
  const { layers, dispose } = groupTfjsWeights(artifacts.weightSpecs, data)
  try {
    return assignWeights(model, layers, opts)
  } finally {
    dispose()
  }
}

function concatBuffers(bufs: ArrayBuffer[]): ArrayBuffer {
  const total = bufs.reduce((a, b) => a + b.byteLength, 0)
  const out = new Uint8Array(total)
  let o = 0
  for (const b of bufs) {
    out.set(new Uint8Array(b), o)
    o += b.byteLength
  }
  return out.buffer
}

/** Reads a TF.js layers model.json and its weight shards from disk (no network). */
export async function readTfjsModelFiles(modelJsonPath: string): Promise<tf.io.ModelArtifacts> {
  let json: { modelTopology?: object; weightsManifest?: tf.io.WeightsManifestConfig; format?: string }
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new AppError('NOT_FOUND', `TF.js model file not found: ${modelJsonPath}`)
    throw new AppError('INVALID_INPUT', `${modelJsonPath} is not a TF.js model.json (${(e as Error).message}).`)
  }
  if (!json.weightsManifest) throw new AppError('INVALID_INPUT', `${modelJsonPath} has no "weightsManifest".`, 'Expected a TF.js layers model saved with model.save().')
  const dir = dirname(modelJsonPath)
  const specs: tf.io.WeightsManifestEntry[] = []
  const buffers: ArrayBuffer[] = []
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      let buf: Buffer
      try {
        buf = await readFile(join(dir, p))
      } catch {
        throw new AppError('NOT_FOUND', `Weight shard "${p}" listed in ${modelJsonPath} is missing.`, 'Copy the .bin files that belong next to model.json.')
      }
      buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer)
    }
    specs.push(...group.weights)
  }
  return { modelTopology: json.modelTopology, weightSpecs: specs, weightData: concatBuffers(buffers), format: json.format }
}

/**
 * loadTfjsLayersWeights(model, modelJsonPath): layers are matched by name; layers of the file
 * the model lacks (e.g. another model's top) are ignored and reported in `extra`.
 */
export async function loadTfjsLayersWeights(model: tf.LayersModel, modelJsonPath: string, opts: AssignOptions = {}): Promise<WeightsReport> {
  const art = await readTfjsModelFiles(modelJsonPath)
  return loadTfjsArtifactsWeights(model, art, { source: modelJsonPath, ...opts })
}
