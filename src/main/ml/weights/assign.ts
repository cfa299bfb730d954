import * as tf from '@tensorflow/tfjs'
import { AppError } from '../../../shared/errors'
import type { WeightsReport } from '../../../shared/models'

/** One stored weight of a layer, as read from a file. */
export interface StoredWeight {
  /** Name as stored, e.g. "block1_conv1/kernel:0" (Keras) or "Conv1/kernel" (TF.js). */
  name: string
  shape: number[]
  /** Lazily read (big files): called only for layers that are assigned. */
  read: () => Float32Array
}

export interface AssignOptions {
  /** Throw when a model layer with weights has none in the file (default false: report it). */
  strict?: boolean
  /** Where the weights came from, for messages. */
  source?: string
}

/** Every layer of the model that owns weights, nested models flattened (a transfer model's base included). */
export function weightedLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = []
  const visit = (layers: tf.layers.Layer[]) => {
    for (const l of layers) {
      if (l instanceof tf.LayersModel) visit(l.layers)
      else if (l.weights.length > 0) out.push(l)
    }
  }
  visit(model.layers)
  return out
}

/** "block1_conv1/kernel:0" -> "kernel"; "Conv1/kernel" -> "kernel"; "block1_conv1_W_1:0" -> "block1_conv1_W_1". */
function shortName(name: string, layer: string): string {
  let n = name.replace(/:\d+$/, '')
  if (n.startsWith(layer + '/')) n = n.slice(layer.length + 1)
  const i = n.lastIndexOf('/')
  n = i >= 0 ? n.slice(i + 1) : n
  return n.replace(/_\d+$/, '')
}

const fmt = (s: number[]) => `[${s.join(', ')}]`

/**
 * Sets the model's weights from stored weights grouped by layer name, checking every shape.
 * Within a layer, weights are matched by their short names (kernel, bias, gamma, ...) when both
 * sides have the same set, otherwise by order (what Keras's load_weights does). Atomic: if any
 * layer is mismatched nothing is assigned and an error naming every mismatch is thrown.
 */
export function assignWeights(model: tf.LayersModel, stored: Map<string, StoredWeight[]>, opts: AssignOptions = {}): WeightsReport {
  const src = opts.source ?? 'the weights file'
  const report: WeightsReport = { loaded: [], missing: [], mismatched: [], extra: [] }
  const plan: { layer: tf.layers.Layer; order: StoredWeight[] }[] = []
  const seen = new Set<string>()
  for (const layer of weightedLayers(model)) {
    seen.add(layer.name)
    const file = stored.get(layer.name)
    if (!file || file.length === 0) {
      report.missing.push(layer.name)
      continue
    }
    const mine = layer.weights
    const expected = mine.map((w) => w.shape as number[])
    const myNames = mine.map((w) => shortName(w.originalName, layer.name))
    const fileNames = file.map((w) => shortName(w.name, layer.name))
    let order = file
    if (new Set(myNames).size === myNames.length && myNames.length === fileNames.length && myNames.every((n) => fileNames.includes(n))) {
      order = myNames.map((n) => file[fileNames.indexOf(n)])
    }
    const found = order.map((w) => w.shape)
    const ok = order.length === mine.length && expected.every((s, i) => s.length === found[i].length && s.every((d, j) => d === found[i][j]))
    if (!ok) report.mismatched.push({ layer: layer.name, expected, found })
    else plan.push({ layer, order })
  }
  for (const [name, ws] of stored) if (ws.length > 0 && !seen.has(name)) report.extra.push(name)
  if (report.mismatched.length) {
    const lines = report.mismatched.map(
      (m) => `  ${m.layer}: model expects ${m.expected.length} weights ${m.expected.map(fmt).join(' ')}, ${src} has ${m.found.length}: ${m.found.map(fmt).join(' ')}`,
    )
    const err = new AppError(
      'INVALID_INPUT',
      `Cannot load ${src}: ${report.mismatched.length} layer(s) have weights of a different shape:\n${lines.join('\n')}`,
      'The file was saved from a different architecture (another width/alpha, number of classes or input channels). Choose the weights file that matches the model, or rebuild the model to match the file.',
    )
    throw Object.assign(err, { report })
  }
  if (plan.length === 0)
    throw new AppError('INVALID_INPUT', `Cannot load ${src}: none of its layers (${[...stored.keys()].slice(0, 5).join(', ')}${stored.size > 5 ? ', ...' : ''}) has the name of a layer of model "${model.name}" (${weightedLayers(model).slice(0, 5).map((l) => l.name).join(', ')}, ...).`, 'Weights are matched by layer name: use a file saved from the same architecture.')
  if (opts.strict && report.missing.length)
    throw new AppError('INVALID_INPUT', `Cannot load ${src}: ${report.missing.length} layer(s) of the model have no weights in it: ${report.missing.join(', ')}.`, 'Use the weights file of this exact architecture.')
  for (const { layer, order } of plan) {
    const tensors = order.map((w) => tf.tensor(w.read(), w.shape, 'float32'))
    layer.setWeights(tensors)
    tf.dispose(tensors)
    report.loaded.push(layer.name)
  }
  return report
}
