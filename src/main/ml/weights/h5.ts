import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import * as tf from '@tensorflow/tfjs'
import * as h5wasm from 'h5wasm/node'
import { AppError } from '../../../shared/errors'
import type { WeightsReport } from '../../../shared/models'
import { assignWeights, type AssignOptions, type StoredWeight } from './assign'

function toStrings(v: unknown): string[] {
  if (v == null) return []
  if (typeof v === 'string') return [v]
  if (Array.isArray(v)) return v.map(String)
  return []
}

/** Keras splits long attributes into name0, name1, ... (save_attributes_to_hdf5_group). */
function readListAttr(obj: h5wasm.Group, name: string): string[] | null {
  const attrs = obj.attrs
  if (attrs[name]) return toStrings(attrs[name].value)
  if (!attrs[`${name}0`]) return null
  const out: string[] = []
  for (let i = 0; attrs[`${name}${i}`]; i++) out.push(...toStrings(attrs[`${name}${i}`].value))
  return out
}

function toFloat32(v: unknown): Float32Array {
  if (v instanceof Float32Array) return v
  if (v instanceof Float64Array || v instanceof Int32Array || v instanceof Uint8Array || v instanceof Int16Array || v instanceof Uint16Array)
    return Float32Array.from(v)
  if (typeof v === 'number') return Float32Array.of(v)
  throw new AppError('INVALID_INPUT', 'A weight in the .h5 file is not a numeric array.')
}

let ready: Promise<unknown> | null = null

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

/** HDF5 files start with a signature at offset 0, 512, 1024, 2048, ... (after a user block). */
function looksLikeHdf5(file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(8)
    for (const off of [0, 512, 1024, 2048, 4096]) {
      if (readSync(fd, buf, 0, 8, off) === 8 && buf.equals(HDF5_SIGNATURE)) return true
    }
    return false
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads the weights of a Keras .h5 file grouped by layer name. Supports the Keras 2 / Keras
 * Applications layout (root attr layer_names; per-layer attr weight_names; also inside
 * "model_weights" for full-model saves) and the Keras 3 ".weights.h5" layout (layers/<name>/vars/<i>).
 * Returns a closer: call it when done reading.
 */
export async function readKerasH5(file: string): Promise<{ layers: Map<string, StoredWeight[]>; close: () => void }> {
  if (!existsSync(file)) throw new AppError('NOT_FOUND', `Weights file not found: ${file}`, 'Check the path, or let the app download the weights.')
  ready ??= h5wasm.ready
  await ready
  let f: h5wasm.File
  try {
    if (!looksLikeHdf5(file)) throw new Error('no HDF5 signature')
    f = new h5wasm.File(file, 'r')
  } catch (e) {
    throw new AppError('INVALID_INPUT', `${file} is not a readable HDF5 file (${e instanceof Error ? e.message : String(e)}).`, 'Expected a Keras .h5 weights file, e.g. vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5. The file may be truncated: delete it and download it again.')
  }
  const layers = new Map<string, StoredWeight[]>()
  try {
    let root: h5wasm.Group = f
    const mw = f.get('model_weights')
    if (mw instanceof h5wasm.Group) root = mw
    const layerNames = readListAttr(root, 'layer_names')
    if (layerNames) {
      for (const ln of layerNames) {
        const g = root.get(ln)
        if (!(g instanceof h5wasm.Group)) continue
        const wn = readListAttr(g, 'weight_names') ?? []
        layers.set(
          ln,
          wn.map((name) => {
            const d = g.get(name)
            if (!(d instanceof h5wasm.Dataset)) throw new AppError('INVALID_INPUT', `${file}: weight "${name}" of layer "${ln}" is listed but missing.`, 'The file is damaged: download it again.')
            return { name, shape: (d.shape ?? []) as number[], read: () => toFloat32(d.value) }
          }),
        )
      }
    } else if (root.get('layers') instanceof h5wasm.Group) {
      const lg = root.get('layers') as h5wasm.Group
      for (const ln of lg.keys()) {
        const vars = (lg.get(ln) as h5wasm.Group).get('vars')
        if (!(vars instanceof h5wasm.Group)) continue
        const keys = vars.keys().sort((a, b) => Number(a) - Number(b))
        layers.set(
          ln,
          keys.map((k) => {
            const d = vars.get(k) as h5wasm.Dataset
            return { name: `${ln}/${k}`, shape: (d.shape ?? []) as number[], read: () => toFloat32(d.value) }
          }),
        )
      }
    } else {
      throw new AppError('INVALID_INPUT', `${file} is an HDF5 file but not Keras weights (no "layer_names" attribute and no "layers" group).`, 'Expected a file written by Keras model.save_weights() / keras.applications.')
    }
  } catch (e) {
    f.close()
    throw e
  }
  return { layers, close: () => f.close() }
}

/** loadKerasH5Weights(model, file): maps layers by name, checks every shape, returns what was loaded/missing/mismatched/extra. */
export async function loadKerasH5Weights(model: tf.LayersModel, file: string, opts: AssignOptions = {}): Promise<WeightsReport> {
  const { layers, close } = await readKerasH5(file)
  try {
    return assignWeights(model, layers, { source: file, ...opts })
  } finally {
    close()
  }
}
