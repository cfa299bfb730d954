/**
 * Keras 2 full-model .h5 (what `model.save('x.h5')` writes), from a TF.js layers model:
 *   /                   attrs: backend = "tensorflow", keras_version, model_config (JSON {class_name, config})
 *   /model_weights      attrs: backend, keras_version, layer_names (fixed-length bytes, every top-level layer)
 *   /model_weights/<L>  attr weight_names (bytes, "<layer>/<weight>:0"; empty float64 array when none);
 *                       datasets at /model_weights/<L>/<layer>/<weight>:0 (float32)
 * A nested model (a transfer model's base) is one top-level layer whose group holds all its sublayers'
 * weights, trainable first then non-trainable (Keras's legacy weight order), named by sublayer.
 * Reading back: model_config -> tf.models.modelFromJSON, weights by layer name through the models
 * owner's readKerasH5 / assignWeights (nested-model groups split per sublayer here).
 */
import * as tf from '@tensorflow/tfjs'
import { closeSync, openSync, rmSync } from 'node:fs'
import * as h5wasm from 'h5wasm/node'
import { hdf5Call } from './hdf5-quiet'
import { readKerasH5 } from '../weights/h5'
import { assignWeights, type StoredWeight } from '../weights/assign'

/** The Keras version written in the file: Keras uses it only to pick legacy-format conversions (none for 2.x). */
export const KERAS_VERSION = '2.15.0'

let ready: Promise<unknown> | null = null
async function h5(): Promise<void> {
  ready ??= h5wasm.ready
  await ready
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

/** TF.js topology JSON -> Keras 2 model_config: class names Keras 2.13+ writes ('Model' -> 'Functional'). */
export function toKerasConfig(node: Json, toKeras = true): Json {
  if (Array.isArray(node)) return node.map((n) => toKerasConfig(n, toKeras))
  if (node && typeof node === 'object') {
    const out: { [k: string]: Json } = {}
    for (const [k, v] of Object.entries(node)) {
      if (k === 'class_name' && typeof v === 'string') out[k] = toKeras ? (v === 'Model' ? 'Functional' : v) : v === 'Functional' ? 'Model' : v
      else out[k] = toKerasConfig(v, toKeras)
    }
    return out
  }
  return node
}

/** The model's Keras model_config JSON object {class_name, config}. */
export function kerasModelConfig(model: tf.LayersModel): { class_name: string; config: Json } {
  const topology = model.toJSON(null, false) as unknown as { class_name: string; config: Json }
  const k = toKerasConfig({ class_name: topology.class_name, config: topology.config }) as { class_name: string; config: Json }
  return k
}

function shortWeightName(v: tf.LayerVariable): string {
  return (v.originalName ?? v.name).split('/').pop()!.replace(/:\d+$/, '').replace(/_\d+$/, '')
}

export interface H5Weight {
  /** "<layer>/<weight>:0" as in weight_names. */
  name: string
  variable: tf.LayerVariable
}

/** Keras's per-top-level-layer weight list (trainable then non-trainable) with Keras weight names. */
export function kerasLayerWeights(layer: tf.layers.Layer): H5Weight[] {
  const owner = new Map<number, string>()
  const visit = (l: tf.layers.Layer) => {
    if (l instanceof tf.LayersModel) for (const s of l.layers) visit(s)
    else for (const w of l.weights) owner.set(w.id, l.name)
  }
  visit(layer)
  const ws = [...layer.trainableWeights, ...layer.nonTrainableWeights]
  const seen = new Set<number>()
  const out: H5Weight[] = []
  for (const v of ws) {
    if (seen.has(v.id)) continue
    seen.add(v.id)
    out.push({ name: `${owner.get(v.id) ?? layer.name}/${shortWeightName(v)}:0`, variable: v })
  }
  return out
}

function bytesAttr(obj: h5wasm.Group, name: string, values: string[]): void {
  if (values.length === 0) {
    obj.create_attribute(name, new Float64Array(0), [0]) // what numpy makes of Keras's empty list
    return
  }
  const width = Math.max(1, ...values.map((v) => Buffer.byteLength(v, 'utf8')))
  obj.create_attribute(name, values, [values.length], `S${width}`)
}

function ensureGroup(parent: h5wasm.Group, path: string): h5wasm.Group {
  let g = parent
  for (const part of path.split('/').filter(Boolean)) {
    const existing = g.get(part)
    g = existing instanceof h5wasm.Group ? existing : g.create_group(part)
  }
  return g
}

/**
 * Writes `model` as a Keras 2 .h5 file at `file` (overwritten). A failure (a full disk, a folder
 * that cannot be written) throws one error naming the file, with the errno as `code`; HDF5's own
 * diagnostics never reach the terminal.
 */
export async function writeKerasH5(model: tf.LayersModel, file: string): Promise<{ layers: number; weights: number }> {
  await h5()
  // Node creates the file first, so an unwritable place fails here with its errno (EACCES,
  // EROFS, ENOENT, …) before HDF5 is involved.
  closeSync(openSync(file, 'w'))
  try {
    return writeH5File(model, file)
  } catch (err) {
    rmSync(file, { force: true }) // a half-written file is no model
    throw err
  }
}

function writeH5File(model: tf.LayersModel, file: string): { layers: number; weights: number } {
  return hdf5Call(file, 'write', () => {
    const f = new h5wasm.File(file, 'w')
    if (Number(f.file_id) < 0) throw new Error(`HDF5 could not create ${file}.`)
    let count = 0
    try {
      f.create_attribute('backend', 'tensorflow')
      f.create_attribute('keras_version', KERAS_VERSION)
      f.create_attribute('model_config', JSON.stringify(kerasModelConfig(model)))
      const mw = f.create_group('model_weights')
      mw.create_attribute('backend', 'tensorflow')
      mw.create_attribute('keras_version', KERAS_VERSION)
      bytesAttr(mw, 'layer_names', model.layers.map((l) => l.name))
      for (const layer of model.layers) {
        const g = mw.create_group(layer.name)
        const ws = kerasLayerWeights(layer)
        bytesAttr(g, 'weight_names', ws.map((w) => w.name))
        for (const w of ws) {
          const slash = w.name.lastIndexOf('/')
          const parent = ensureGroup(g, w.name.slice(0, slash))
          const t = w.variable.read()
          parent.create_dataset({ name: w.name.slice(slash + 1), data: t.dataSync() as Float32Array, shape: t.shape.slice() })
          count++
        }
      }
      f.flush()
    } finally {
      f.close()
    }
    return { layers: model.layers.length, weights: count }
  })
}

/** Reads model_config from a Keras .h5 file. */
export async function readH5ModelConfig(file: string): Promise<{ class_name: string; config: Json }> {
  await h5()
  const text = hdf5Call(file, 'read', () => {
    const f = new h5wasm.File(file, 'r')
    if (Number(f.file_id) < 0) throw new Error(`HDF5 could not open ${file}.`)
    try {
      const attr = f.attrs['model_config']
      if (!attr) throw new Error(`${file} has no model_config attribute: it holds weights only, not a whole Keras model.`)
      const v = attr.value
      return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0]) : new TextDecoder().decode(v as Uint8Array)
    } finally {
      f.close()
    }
  })
  return JSON.parse(text)
}

/**
 * Rebuilds a TF.js model from a Keras .h5 written by writeKerasH5 (or Keras 2, for the layers TF.js knows):
 * architecture from model_config, every weight by layer name (strict: a missing layer is an error).
 */
export async function loadKerasH5Model(file: string): Promise<tf.LayersModel> {
  const cfg = await readH5ModelConfig(file)
  const topology = toKerasConfig(cfg as unknown as Json, false) as unknown as tf.io.ModelJSON['modelTopology']
  const model = await tf.models.modelFromJSON({ modelTopology: topology } as tf.io.ModelJSON)
  const { layers, close } = await readKerasH5(file)
  try {
    // A nested model's group holds its sublayers' weights ("Conv1/kernel:0"): split it per sublayer.
    const nested = new Set(model.layers.filter((l) => l instanceof tf.LayersModel).map((l) => l.name))
    const stored = new Map<string, StoredWeight[]>()
    for (const [group, ws] of layers) {
      if (!nested.has(group)) {
        stored.set(group, ws)
        continue
      }
      for (const w of ws) {
        const parts = w.name.split('/')
        const layerName = parts.length > 1 ? parts[parts.length - 2] : group
        if (!stored.has(layerName)) stored.set(layerName, [])
        stored.get(layerName)!.push(w)
      }
    }
    assignWeights(model, stored, { source: file, strict: true })
  } finally {
    close()
  }
  return model
}
