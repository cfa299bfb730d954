import * as tf from '@tensorflow/tfjs'

/**
 * Splits a transfer/fine-tune model at the top of its frozen part so that the frozen bottom
 * runs forward-only (on onnxruntime when it matches TF.js) and only the top is trained under
 * the gradient tape. Frozen layers get no gradient and their BatchNormalization layers run in
 * inference mode, so `top(bottom(x))` is the same function with the same trainable weights as
 * the full model: this is an execution plan, not an approximation. It is what makes
 * augmentation and fine-tuning affordable on CPU: MobileNetV2 at 160 px fine-tuned from
 * block_11 keeps 10x10 and 5x5 activations on the tape instead of 80x80 ones.
 *
 * The top shares its layers (and so its weights) with the full model: training the top trains
 * the model that checkpoints and exports save.
 */

interface SymTensor {
  id: number
  shape: (number | null)[]
  sourceLayer: tf.layers.Layer
}
interface GraphNode {
  inputTensors: SymTensor[]
  outputTensors: SymTensor[]
}
const nodesOf = (l: tf.layers.Layer) => (l as unknown as { inboundNodes: GraphNode[] }).inboundNodes

export interface FrozenSplit {
  /** Base input -> the cut activations (every layer frozen). */
  bottom: tf.LayersModel
  /** Cut activations -> class probabilities (shares layers with the full model). */
  top: tf.LayersModel
  /** Name of the last base layer in the bottom. */
  cutLayer: string
  /** Activation shape per image at the cut, e.g. [10, 10, 96]. */
  cutShape: number[]
}

/** Base layers in topological order with the node that built the base graph (InputLayer excluded). */
function baseGraph(base: tf.LayersModel): { layer: tf.layers.Layer; node: GraphNode }[] {
  return base.layers.filter((l) => l.getClassName() !== 'InputLayer').map((layer) => ({ layer, node: nodesOf(layer)[0] }))
}

/**
 * The latest point before `base`'s first trainable layer where a single tensor carries
 * everything the rest of the base needs (a residual block's input is not such a point; its
 * output is). Returns the index into baseGraph(base), or -1 when nothing before the first
 * trainable layer qualifies.
 */
export function findCut(base: tf.LayersModel): number {
  const g = baseGraph(base)
  let first = g.findIndex(({ layer }) => layer.trainable && layer.trainableWeights.length > 0)
  if (first < 0) first = g.length
  for (let k = first - 1; k >= 0; k--) {
    const have = new Set<number>(g[k].node.outputTensors.map((t) => t.id))
    let ok = g[k].node.outputTensors.length === 1
    for (let i = k + 1; ok && i < g.length; i++) {
      if (!g[i].node.inputTensors.every((t) => have.has(t.id))) ok = false
      else g[i].node.outputTensors.forEach((t) => have.add(t.id))
    }
    if (ok) return k
  }
  return -1
}

/**
 * Every point of `base` where a single tensor carries everything the rest needs (the indexes
 * splitAtFrozenBottom's `cutAt` takes), with its activation shape per image. Saliency uses
 * one to compute Grad-CAM at a finer grid than the base's output.
 */
export function singleTensorCuts(base: tf.LayersModel): { index: number; name: string; shape: number[] }[] {
  const g = baseGraph(base)
  const out: { index: number; name: string; shape: number[] }[] = []
  for (let k = 0; k < g.length; k++) {
    if (g[k].node.outputTensors.length !== 1) continue
    const have = new Set<number>([g[k].node.outputTensors[0].id])
    let ok = true
    for (let i = k + 1; ok && i < g.length; i++) {
      if (!g[i].node.inputTensors.every((t) => have.has(t.id))) ok = false
      else g[i].node.outputTensors.forEach((t) => have.add(t.id))
    }
    if (ok) out.push({ index: k, name: g[k].layer.name, shape: g[k].node.outputTensors[0].shape.slice(1) as number[] })
  }
  return out
}

/**
 * Splits `model` (input -> base -> GAP/Dropout/Dense head, base a nested model) at the top of
 * the base's frozen layers (or at `cutAt`, an index of singleTensorCuts). Returns null when the base has no frozen bottom worth splitting off.
 */
export function splitAtFrozenBottom(model: tf.LayersModel, base: tf.LayersModel, cutAt?: number): FrozenSplit | null {
  const at = model.layers.indexOf(base as unknown as tf.layers.Layer)
  if (at < 1 || model.layers.slice(0, at).some((l) => l.getClassName() !== 'InputLayer')) return null
  const g = baseGraph(base)
  const k = cutAt ?? findCut(base)
  if (k < 0) return null
  const cut = g[k].node.outputTensors[0]
  const cutShape = cut.shape.slice(1) as number[]
  const input = tf.input({ shape: cutShape, name: `${g[k].layer.name}_activations` })
  const map = new Map<number, tf.SymbolicTensor>([[cut.id, input]])
  const applyNode = (layer: tf.layers.Layer, node: GraphNode, resolve: (t: SymTensor) => tf.SymbolicTensor | undefined) => {
    const ins = node.inputTensors.map((t) => {
      const v = resolve(t)
      if (!v) throw new Error(`Cannot split ${model.name} at ${g[k].layer.name}: ${layer.name} needs ${t.sourceLayer.name}.`)
      return v
    })
    const out = layer.apply(ins.length === 1 ? ins[0] : ins) as tf.SymbolicTensor | tf.SymbolicTensor[]
    const outs = Array.isArray(out) ? out : [out]
    node.outputTensors.forEach((t, i) => map.set(t.id, outs[i]))
  }
  for (let i = k + 1; i < g.length; i++) applyNode(g[i].layer, g[i].node, (t) => map.get(t.id))
  const baseOut = map.get((base.outputs[0] as unknown as SymTensor).id)!
  // The outer model: the layers after the base, each through its node in the outer graph.
  const outer = model.layers.slice(model.layers.indexOf(base as unknown as tf.layers.Layer) + 1)
  const resolveOuter = (t: SymTensor) => map.get(t.id) ?? (t.sourceLayer === (base as unknown as tf.layers.Layer) ? baseOut : undefined)
  for (const layer of outer) {
    const node = nodesOf(layer).find((n) => n.inputTensors.every((t) => resolveOuter(t)))
    if (!node) throw new Error(`Cannot split ${model.name}: ${layer.name} does not follow the base.`)
    applyNode(layer, node, resolveOuter)
  }
  const output = map.get((model.outputs[0] as unknown as SymTensor).id)
  if (!output) throw new Error(`Cannot split ${model.name}: its output does not follow the base.`)
  const bottom = tf.model({ inputs: base.inputs, outputs: cut as unknown as tf.SymbolicTensor, name: `${base.name}_frozen_bottom` })
  const top = tf.model({ inputs: input, outputs: output, name: `${model.name}_trainable_top` })
  return { bottom, top, cutLayer: g[k].layer.name, cutShape }
}
