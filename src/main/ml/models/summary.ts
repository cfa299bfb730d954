import * as tf from '@tensorflow/tfjs'
import type { LayerSummary, ModelSummary } from '../../../shared/models'

/** tfjs class name -> Keras class name where they differ. */
const KERAS_CLASS: Record<string, string> = { Model: 'Functional', LayersModel: 'Functional' }

const pyTuple = (shape: (number | null)[]) =>
  shape.length === 1 ? `(${shape[0] ?? 'None'},)` : `(${shape.map((d) => (d == null ? 'None' : String(d))).join(', ')})`

function outputShapeText(layer: tf.layers.Layer): string {
  const s = layer.outputShape as (number | null)[] | (number | null)[][]
  const isInput = layer.getClassName() === 'InputLayer'
  if (Array.isArray(s[0])) return `[${(s as (number | null)[][]).map(pyTuple).join(', ')}]`
  // Keras 2 reports an InputLayer's output_shape as a list of one tuple.
  return isInput ? `[${pyTuple(s as (number | null)[])}]` : pyTuple(s as (number | null)[])
}

const countWeights = (ws: tf.LayerVariable[]) => ws.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0)

/** Layers as listed by Keras's summary: a Sequential omits its InputLayer. */
function summaryLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers
  if (model instanceof tf.Sequential) return layers.filter((l) => l.getClassName() !== 'InputLayer')
  return layers
}

/** The inbound nodes of `layer` that belong to `model`'s graph (a layer can be shared by several models). */
function modelNodes(model: tf.LayersModel, layer: tf.layers.Layer) {
  const keys = (model as unknown as { containerNodes?: Set<string> }).containerNodes
  return layer.inboundNodes.filter((_n, i) => (keys ? keys.has(`${layer.name}_ib-${i}`) : true))
}

function isSequentialLike(model: tf.LayersModel): boolean {
  if (model instanceof tf.Sequential) return true
  for (const layer of model.layers) {
    const nodes = modelNodes(model, layer)
    if (nodes.length > 1) return false
    if (nodes.length === 1 && nodes[0].inboundLayers.length > 1) return false
  }
  return true
}

function connections(model: tf.LayersModel, layer: tf.layers.Layer): string[] {
  const out: string[] = []
  for (const node of modelNodes(model, layer)) {
    node.inboundLayers.forEach((l, i) => out.push(`${l.name}[${node.nodeIndices[i]}][${node.tensorIndices[i]}]`))
  }
  return out
}

/** The data of Keras's model.summary(). */
export function summarize(model: tf.LayersModel): ModelSummary {
  const seqLike = isSequentialLike(model)
  const layers: LayerSummary[] = summaryLayers(model).map((l) => {
    const cls = l.getClassName()
    const row: LayerSummary = { name: l.name, type: KERAS_CLASS[cls] ?? cls, outputShape: outputShapeText(l), params: l.countParams() }
    if (!seqLike) row.connectedTo = connections(model, l)
    return row
  })
  const trainable = countWeights(model.trainableWeights)
  const nonTrainable = countWeights(model.nonTrainableWeights)
  return { model: model.name, layers, totalParams: trainable + nonTrainable, trainableParams: trainable, nonTrainableParams: nonTrainable }
}

const thousands = (n: number) => n.toLocaleString('en-US')

/** Keras 2 `print_summary` row layout (column wrapping included). */
function printRow(fields: string[], positions: number[], out: string[]): void {
  const left = [...fields]
  while (left.some((s) => s.length > 0)) {
    let line = ''
    for (let col = 0; col < left.length; col++) {
      const start = col > 0 ? positions[col - 1] : 0
      const end = positions[col]
      const space = col !== positions.length - 1 ? 2 : 0
      let cutoff = end - start - space
      let fit = left[col].slice(0, cutoff)
      const cands = ['),', '},', '],', "',"].filter((c) => fit.indexOf(c) >= 0).map((c) => fit.indexOf(c) + c.length)
      if (cands.length) {
        cutoff = Math.min(...cands)
        fit = fit.slice(0, cutoff)
      }
      if (col === 0) line += ' '
      line += fit
      line += ' '.repeat(space)
      left[col] = left[col].slice(cutoff)
      line += ' '.repeat(Math.max(0, positions[col] - line.length))
    }
    out.push(line)
  }
}

const pyList = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`

/** Keras's text table for a summary (tf.keras 2.x `model.summary()` layout). */
export function formatSummary(s: ModelSummary): string {
  const seqLike = s.layers.every((l) => l.connectedTo === undefined)
  const lineLength = seqLike ? 65 : 98
  const positions = (seqLike ? [0.45, 0.85, 1.0] : [0.33, 0.55, 0.67, 1.0]).map((p) => Math.floor(lineLength * p))
  const header = seqLike ? ['Layer (type)', 'Output Shape', 'Param #'] : ['Layer (type)', 'Output Shape', 'Param #', 'Connected to']
  const out: string[] = []
  out.push(`Model: "${s.model}"`)
  out.push('_'.repeat(lineLength))
  printRow(header, positions, out)
  out.push('='.repeat(lineLength))
  for (const l of s.layers) {
    const fields = [`${l.name} (${l.type})`, l.outputShape, String(l.params)]
    if (!seqLike) fields.push(pyList(l.connectedTo ?? []))
    printRow(fields, positions, out)
    out.push(' '.repeat(lineLength))
  }
  out.push('='.repeat(lineLength))
  out.push(`Total params: ${thousands(s.totalParams)}`)
  out.push(`Trainable params: ${thousands(s.trainableParams)}`)
  out.push(`Non-trainable params: ${thousands(s.nonTrainableParams)}`)
  out.push('_'.repeat(lineLength))
  return out.join('\n')
}
