/**
 * tf.LayersModel -> ONNX (opset 13), written without any ONNX library.
 *
 * Graph shape:
 *   input "input": float32 [N, H, W, C], NHWC, raw 0..255 pixel values (the project's image cache)
 *   -> (gray -> 3 channels by Concat, if the model wants RGB but the project is grayscale)
 *   -> the app's normalisation folded in (Mul/Add, or caffe: Gather channels RGB->BGR + Sub mean)
 *   -> Transpose to NCHW (perm 0,3,1,2): every 4-D tensor inside the graph is NCHW
 *   -> the layers (Conv, BatchNormalization, pools ...), Keras's Flatten done as Transpose back to NHWC + Flatten
 *   -> output "probabilities": float32 [N, classes]
 * TF's 'same' padding (extra pixel at the end when the total is odd) is written as explicit pads.
 */
import * as tf from '@tensorflow/tfjs'
import { encodeOnnxModel, ONNX_OPSET, type OnnxAttr, type OnnxNode, type OnnxTensor } from './onnx-proto'
import type { ModelPreprocess } from '../../../shared/export'

export interface OnnxExportOptions {
  /** Normalisation to fold into the graph (default none: the graph expects already-normalised input). */
  preprocess?: ModelPreprocess
  /** Project images are grayscale but the model wants 3 channels: input has 1 channel, repeated inside. */
  grayToRgb?: boolean
  inputName?: string
  outputName?: string
  metadata?: Record<string, string>
  docString?: string
  producerVersion?: string
}

export interface OnnxExport {
  bytes: Uint8Array
  inputName: string
  outputName: string
  /** [N, H, W, C] with N = 'N'. */
  inputShape: (number | string)[]
  outputShape: (number | string)[]
  /** ONNX op types used, for the model card. */
  ops: string[]
}

/** A tensor in the ONNX graph: its name and rank; rank-4 tensors are NCHW. */
interface Val {
  name: string
  rank: number
}

type AnyLayer = tf.layers.Layer & { getConfig(): tf.serialization.ConfigDict }

interface SymTensor {
  id: number
  sourceLayer: AnyLayer
  nodeIndex: number
  tensorIndex: number
  shape: (number | null)[]
}

interface InboundNode {
  inputTensors: SymTensor[]
  outputTensors: SymTensor[]
}

export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OnnxExportError'
  }
}

function f32(values: ArrayLike<number>): Float32Array {
  return Float32Array.from(values as ArrayLike<number>)
}

class GraphBuilder {
  nodes: OnnxNode[] = []
  initializers: OnnxTensor[] = []
  private used = new Set<string>()
  ops = new Set<string>()

  unique(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 't'
    let name = clean
    for (let i = 1; this.used.has(name); i++) name = `${clean}_${i}`
    this.used.add(name)
    return name
  }

  reserve(name: string): void {
    this.used.add(name)
  }

  const(base: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const name = this.unique(base)
    this.initializers.push({ name, dims, data })
    return name
  }

  int64(base: string, values: number[]): string {
    return this.const(base, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))))
  }

  scalar(base: string, v: number): string {
    return this.const(base, [], f32([v]))
  }

  node(opType: string, name: string, inputs: string[], attrs?: Record<string, OnnxAttr>, output?: string): string {
    const out = output ?? this.unique(`${name}:out`)
    if (output) this.reserve(output)
    this.nodes.push({ opType, name: this.unique(`${name}/${opType}`), inputs, outputs: [out], attrs })
    this.ops.add(opType)
    return out
  }
}

const ints = (value: number[]): OnnxAttr => ({ kind: 'ints', value })
const int = (value: number): OnnxAttr => ({ kind: 'int', value })
const float = (value: number): OnnxAttr => ({ kind: 'float', value })

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v]
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]]
  throw new OnnxExportError(`${what}: expected a number or a pair of numbers, got ${JSON.stringify(v)}`)
}

/** TF/Keras padding as ONNX pads [top, left, bottom, right] for a known input size. */
function tfPads(padding: string, inHW: [number | null, number | null], kernel: [number, number], strides: [number, number], dilation: [number, number], layerName: string): number[] {
  if (padding === 'valid') return [0, 0, 0, 0]
  if (padding !== 'same') throw new OnnxExportError(`Layer ${layerName}: padding '${padding}' is not supported in ONNX export (expected 'same' or 'valid').`)
  const before: number[] = []
  const after: number[] = []
  for (let d = 0; d < 2; d++) {
    const size = inHW[d]
    if (size == null) throw new OnnxExportError(`Layer ${layerName}: 'same' padding needs a fixed input size; the model's input height/width is unknown.`)
    const eff = (kernel[d] - 1) * dilation[d] + 1
    const out = Math.ceil(size / strides[d])
    const total = Math.max((out - 1) * strides[d] + eff - size, 0)
    before.push(Math.floor(total / 2))
    after.push(total - Math.floor(total / 2))
  }
  return [before[0], before[1], after[0], after[1]]
}

function layerWeights(layer: AnyLayer): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>()
  for (const w of layer.weights) {
    const short = (w.originalName ?? w.name).split('/').pop()!.replace(/:\d+$/, '')
    out.set(short, w.read())
  }
  return out
}

function weight(ws: Map<string, tf.Tensor>, key: string, layer: AnyLayer): tf.Tensor {
  const t = ws.get(key)
  if (!t) throw new OnnxExportError(`Layer ${layer.name} (${layer.getClassName()}): weight '${key}' not found (has: ${[...ws.keys()].join(', ') || 'none'}).`)
  return t
}

function transposed(t: tf.Tensor, perm: number[]): { dims: number[]; data: Float32Array } {
  // Not inside tf.tidy: tidy walks its return value, element by element for a typed array.
  const p = tf.transpose(t, perm)
  try {
    return { dims: p.shape.slice(), data: p.dataSync() as Float32Array }
  } finally {
    p.dispose()
  }
}

class Converter {
  g = new GraphBuilder()
  /** SymbolicTensor id -> ONNX value, per nested-model scope. */
  private memo = new Map<string, Val>()

  constructor(private readonly root: tf.LayersModel) {}

  activation(name: string, act: string | undefined, x: Val): Val {
    const g = this.g
    switch (act ?? 'linear') {
      case 'linear':
        return x
      case 'relu':
        return { name: g.node('Relu', name, [x.name]), rank: x.rank }
      case 'relu6':
        return { name: g.node('Clip', name, [x.name, g.scalar(`${name}/min`, 0), g.scalar(`${name}/max`, 6)]), rank: x.rank }
      case 'sigmoid':
        return { name: g.node('Sigmoid', name, [x.name]), rank: x.rank }
      case 'tanh':
        return { name: g.node('Tanh', name, [x.name]), rank: x.rank }
      case 'softplus':
        return { name: g.node('Softplus', name, [x.name]), rank: x.rank }
      case 'softsign':
        return { name: g.node('Softsign', name, [x.name]), rank: x.rank }
      case 'elu':
        return { name: g.node('Elu', name, [x.name], { alpha: float(1) }), rank: x.rank }
      case 'selu':
        return { name: g.node('Selu', name, [x.name], { alpha: float(1.6732632423543772), gamma: float(1.0507009873554805) }), rank: x.rank }
      case 'hardSigmoid':
      case 'hard_sigmoid':
        return { name: g.node('HardSigmoid', name, [x.name], { alpha: float(0.2), beta: float(0.5) }), rank: x.rank }
      case 'swish':
      case 'silu': {
        const s = g.node('Sigmoid', name, [x.name])
        return { name: g.node('Mul', name, [x.name, s]), rank: x.rank }
      }
      case 'softmax':
        return { name: g.node('Softmax', name, [x.name], { axis: int(x.rank === 4 ? 1 : x.rank - 1) }), rank: x.rank }
      default:
        throw new OnnxExportError(`Activation '${act}' (in ${name}) is not supported in ONNX export.`)
    }
  }

  /** Keras axis (NHWC semantics) -> ONNX axis (NCHW for rank 4). */
  axis(axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis
    if (rank !== 4) return a
    return [0, 2, 3, 1][a]
  }

  resolve(t: SymTensor, scope: string): Val {
    const key = `${scope}#${t.id}`
    const hit = this.memo.get(key)
    if (hit) return hit
    const layer = t.sourceLayer
    const node = (layer as unknown as { inboundNodes: InboundNode[] }).inboundNodes[t.nodeIndex]
    if (!node) throw new OnnxExportError(`Layer ${layer.name}: graph node ${t.nodeIndex} not found.`)
    const inputs = node.inputTensors.map((x) => this.resolve(x, scope))
    const outs = this.layer(layer, inputs, node, scope)
    node.outputTensors.forEach((o, i) => this.memo.set(`${scope}#${o.id}`, outs[i]))
    const v = this.memo.get(key)
    if (!v) throw new OnnxExportError(`Layer ${layer.name}: output ${t.tensorIndex} not produced.`)
    return v
  }

  bind(t: SymTensor, scope: string, v: Val): void {
    this.memo.set(`${scope}#${t.id}`, v)
  }

  layer(layer: AnyLayer, inputs: Val[], node: InboundNode, scope: string): Val[] {
    const g = this.g
    const cls = layer.getClassName()
    const cfg = layer.getConfig() as Record<string, unknown>
    const name = layer.name
    const x = inputs[0]
    const inShape = node.inputTensors[0]?.shape ?? []

    if (layer instanceof tf.LayersModel) {
      // A nested model used as a layer: inline it under its own scope.
      const inner = layer as tf.LayersModel
      const innerScope = `${scope}/${name}`
      const ins = inner.inputs as unknown as SymTensor[]
      if (ins.length !== inputs.length) throw new OnnxExportError(`Nested model ${name}: ${ins.length} inputs expected, got ${inputs.length}.`)
      ins.forEach((t, i) => this.bind(t, innerScope, inputs[i]))
      return (inner.outputs as unknown as SymTensor[]).map((t) => this.resolve(t, innerScope))
    }

    const needNCHW = (what: string): void => {
      if (x.rank !== 4) throw new OnnxExportError(`Layer ${name} (${cls}): ${what} needs a 4-D input, got rank ${x.rank}.`)
      if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast') throw new OnnxExportError(`Layer ${name} (${cls}): only channelsLast data format is supported.`)
    }
    const ws = layerWeights(layer)

    switch (cls) {
      case 'InputLayer':
        throw new OnnxExportError(`InputLayer ${name} reached without a bound graph input.`)
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        needNCHW(cls)
        const kernelSize = pair(cfg.kernelSize, `${name}.kernelSize`)
        const strides = pair(cfg.strides ?? 1, `${name}.strides`)
        const dilation = pair(cfg.dilationRate ?? 1, `${name}.dilationRate`)
        const pads = tfPads(String(cfg.padding), [inShape[1] ?? null, inShape[2] ?? null], kernelSize, strides, dilation, name)
        let W: string
        let group = 1
        let outChannels: number
        if (cls === 'Conv2D') {
          const k = weight(ws, 'kernel', layer) // [kh, kw, cin, cout]
          const t = transposed(k, [3, 2, 0, 1])
          W = g.const(`${name}/kernel`, t.dims, t.data)
          outChannels = k.shape[3] as number
        } else {
          const k = weight(ws, 'depthwise_kernel', layer) // [kh, kw, cin, mult]
          const [kh, kw, cin, mult] = k.shape
          const t = transposed(k, [2, 3, 0, 1]) // [cin, mult, kh, kw] -> [cin*mult, 1, kh, kw]
          W = g.const(`${name}/depthwise_kernel`, [cin * mult, 1, kh, kw], t.data)
          group = cin
          outChannels = cin * mult
        }
        const convIn = [x.name, W]
        if (cfg.useBias !== false) {
          const b = weight(ws, 'bias', layer)
          if (b.size !== outChannels) throw new OnnxExportError(`Layer ${name}: bias has ${b.size} values, expected ${outChannels}.`)
          convIn.push(g.const(`${name}/bias`, [outChannels], b.dataSync() as Float32Array))
        }
        const y = g.node('Conv', name, convIn, { kernel_shape: ints(kernelSize), strides: ints(strides), dilations: ints(dilation), pads: ints(pads), group: int(group) })
        return [this.activation(name, cfg.activation as string | undefined, { name: y, rank: 4 })]
      }
      case 'Dense': {
        if (x.rank !== 2) throw new OnnxExportError(`Layer ${name} (Dense): only 2-D inputs are supported in ONNX export (got rank ${x.rank}); add a Flatten or GlobalAveragePooling2D before it.`)
        const k = weight(ws, 'kernel', layer)
        const gemmIn = [x.name, g.const(`${name}/kernel`, k.shape.slice(), k.dataSync() as Float32Array)]
        if (cfg.useBias !== false) {
          const b = weight(ws, 'bias', layer)
          gemmIn.push(g.const(`${name}/bias`, [b.size], b.dataSync() as Float32Array))
        }
        const y = g.node('Gemm', name, gemmIn, { alpha: float(1), beta: float(1), transA: int(0), transB: int(0) })
        return [this.activation(name, cfg.activation as string | undefined, { name: y, rank: 2 })]
      }
      case 'BatchNormalization': {
        const axis = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [cfg.axis as number]
        if (axis.length !== 1 || this.axis(axis[0], x.rank) !== 1) throw new OnnxExportError(`Layer ${name} (BatchNormalization): only normalisation over the channel axis is supported (axis ${JSON.stringify(cfg.axis)}).`)
        const mean = weight(ws, 'moving_mean', layer)
        const variance = weight(ws, 'moving_variance', layer)
        const c = mean.size
        const gamma = cfg.scale === false ? f32(new Array(c).fill(1)) : (weight(ws, 'gamma', layer).dataSync() as Float32Array)
        const beta = cfg.center === false ? f32(new Array(c).fill(0)) : (weight(ws, 'beta', layer).dataSync() as Float32Array)
        const y = g.node('BatchNormalization', name, [x.name, g.const(`${name}/gamma`, [c], gamma), g.const(`${name}/beta`, [c], beta), g.const(`${name}/moving_mean`, [c], mean.dataSync() as Float32Array), g.const(`${name}/moving_variance`, [c], variance.dataSync() as Float32Array)], { epsilon: float(Number(cfg.epsilon ?? 1e-3)) })
        return [{ name: y, rank: x.rank }]
      }
      case 'ReLU': {
        const maxValue = cfg.maxValue as number | null | undefined
        if (maxValue == null) return [{ name: g.node('Relu', name, [x.name]), rank: x.rank }]
        return [{ name: g.node('Clip', name, [x.name, g.scalar(`${name}/min`, 0), g.scalar(`${name}/max`, maxValue)]), rank: x.rank }]
      }
      case 'LeakyReLU':
        return [{ name: g.node('LeakyRelu', name, [x.name], { alpha: float(Number(cfg.alpha ?? 0.3)) }), rank: x.rank }]
      case 'Activation':
        return [this.activation(name, cfg.activation as string, x)]
      case 'Softmax': {
        const ax = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [(cfg.axis as number | undefined) ?? -1]
        if (ax.length !== 1) throw new OnnxExportError(`Layer ${name} (Softmax): a single axis is required.`)
        return [{ name: g.node('Softmax', name, [x.name], { axis: int(this.axis(ax[0], x.rank)) }), rank: x.rank }]
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        needNCHW(cls)
        const pool = pair(cfg.poolSize, `${name}.poolSize`)
        const strides = pair(cfg.strides ?? cfg.poolSize, `${name}.strides`)
        const pads = tfPads(String(cfg.padding ?? 'valid'), [inShape[1] ?? null, inShape[2] ?? null], pool, strides, [1, 1], name)
        const attrs: Record<string, OnnxAttr> = { kernel_shape: ints(pool), strides: ints(strides), pads: ints(pads) }
        if (cls === 'AveragePooling2D') attrs.count_include_pad = int(0) // TF averages over the valid pixels only
        return [{ name: g.node(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', name, [x.name], attrs), rank: 4 }]
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        needNCHW(cls)
        const p = g.node(cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool', name, [x.name])
        if (cfg.keepDims) return [{ name: p, rank: 4 }]
        return [{ name: g.node('Flatten', name, [p], { axis: int(1) }), rank: 2 }]
      }
      case 'Flatten': {
        if (x.rank === 2) return [x]
        // Keras flattens NHWC (channels fastest); our 4-D tensors are NCHW: transpose back first.
        const src = x.rank === 4 ? g.node('Transpose', name, [x.name], { perm: ints([0, 2, 3, 1]) }) : x.name
        return [{ name: g.node('Flatten', name, [src], { axis: int(1) }), rank: 2 }]
      }
      case 'ZeroPadding2D': {
        needNCHW(cls)
        const p = cfg.padding as unknown
        let top: number, bottom: number, left: number, right: number
        if (typeof p === 'number') top = bottom = left = right = p
        else if (Array.isArray(p) && typeof p[0] === 'number') {
          top = bottom = p[0] as number
          left = right = p[1] as number
        } else if (Array.isArray(p)) {
          ;[[top, bottom], [left, right]] = p as [[number, number], [number, number]]
        } else throw new OnnxExportError(`Layer ${name} (ZeroPadding2D): padding ${JSON.stringify(p)} not understood.`)
        const pads = g.int64(`${name}/pads`, [0, 0, top, left, 0, 0, bottom, right])
        return [{ name: g.node('Pad', name, [x.name, pads], { mode: { kind: 'string', value: 'constant' } }), rank: 4 }]
      }
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        return [x] // identity at inference
      case 'Rescaling': {
        const scale = g.scalar(`${name}/scale`, Number(cfg.scale))
        const offset = g.scalar(`${name}/offset`, Number(cfg.offset ?? 0))
        return [{ name: g.node('Add', name, [g.node('Mul', name, [x.name, scale]), offset]), rank: x.rank }]
      }
      case 'Add':
      case 'Multiply':
      case 'Maximum':
      case 'Minimum':
      case 'Average': {
        if (inputs.some((v) => v.rank !== x.rank)) throw new OnnxExportError(`Layer ${name} (${cls}): inputs of different ranks are not supported.`)
        const op = { Add: 'Sum', Multiply: 'Mul', Maximum: 'Max', Minimum: 'Min', Average: 'Mean' }[cls]!
        if (op === 'Mul') {
          let acc = inputs[0].name
          for (const v of inputs.slice(1)) acc = g.node('Mul', name, [acc, v.name])
          return [{ name: acc, rank: x.rank }]
        }
        if (op === 'Sum' && inputs.length === 2) return [{ name: g.node('Add', name, inputs.map((v) => v.name)), rank: x.rank }]
        return [{ name: g.node(op, name, inputs.map((v) => v.name)), rank: x.rank }]
      }
      case 'Concatenate': {
        const ax = this.axis(Number(cfg.axis ?? -1), x.rank)
        return [{ name: g.node('Concat', name, inputs.map((v) => v.name), { axis: int(ax) }), rank: x.rank }]
      }
      default:
        throw new OnnxExportError(`Layer ${name} of type ${cls} is not supported in ONNX export yet. Supported: Conv2D, DepthwiseConv2D, Dense, BatchNormalization, ReLU, LeakyReLU, Activation, Softmax, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Flatten, ZeroPadding2D, Dropout, Rescaling, Add, Multiply, Concatenate and nested models.`)
    }
  }

  convert(opts: OnnxExportOptions): OnnxExport {
    const g = this.g
    const model = this.root
    if (model.inputs.length !== 1 || model.outputs.length !== 1) throw new OnnxExportError(`ONNX export supports models with one input and one output (this one has ${model.inputs.length} and ${model.outputs.length}).`)
    const inT = model.inputs[0] as unknown as SymTensor
    const outT = model.outputs[0] as unknown as SymTensor
    if (inT.shape.length !== 4) throw new OnnxExportError(`ONNX export expects an image model with input [batch, height, width, channels]; this one has input shape [${inT.shape}].`)
    const [, h, w, c] = inT.shape
    if (h == null || w == null || c == null) throw new OnnxExportError(`ONNX export needs a fixed input size; the model's input is [${inT.shape}].`)
    const inputName = opts.inputName ?? 'input'
    const outputName = opts.outputName ?? 'probabilities'
    g.reserve(inputName)
    g.reserve(outputName)

    const grayToRgb = !!opts.grayToRgb
    if (grayToRgb && c !== 3) throw new OnnxExportError(`grayToRgb needs a model with 3 input channels (this one has ${c}).`)
    const inChannels = grayToRgb ? 1 : c
    let v = inputName
    if (grayToRgb) v = g.node('Concat', 'preprocess/gray_to_rgb', [v, v, v], { axis: int(3) })
    const pre = opts.preprocess ?? { kind: 'none' as const }
    if (pre.kind === 'scale') {
      v = g.node('Mul', 'preprocess/scale', [v, g.scalar('preprocess/scale', pre.scale)])
      v = g.node('Add', 'preprocess/offset', [v, g.scalar('preprocess/offset', pre.offset)])
    } else if (pre.kind === 'caffe') {
      if (c !== 3) throw new OnnxExportError(`Caffe-style preprocessing needs 3 channels (model has ${c}).`)
      v = g.node('Gather', 'preprocess/rgb_to_bgr', [v, g.int64('preprocess/bgr_index', [2, 1, 0])], { axis: int(3) })
      v = g.node('Sub', 'preprocess/mean', [v, g.const('preprocess/mean_bgr', [3], f32(pre.mean))])
    }
    v = g.node('Transpose', 'preprocess/nhwc_to_nchw', [v], { perm: ints([0, 3, 1, 2]) })
    this.bind(inT, '', { name: v, rank: 4 })

    const out = this.resolve(outT, '')
    let outName = out.name
    if (out.rank === 4) outName = g.node('Transpose', 'output/nchw_to_nhwc', [outName], { perm: ints([0, 2, 3, 1]) })
    g.node('Identity', 'output', [outName], undefined, outputName)
    const outShape: (number | string)[] = ['N', ...(outT.shape.slice(1) as number[])]
    if (outShape.some((d) => d == null)) throw new OnnxExportError(`Model output shape [${outT.shape}] is not fully known.`)

    const inputShape: (number | string)[] = ['N', h, w, inChannels]
    const bytes = encodeOnnxModel({
      producerName: 'Classifier Studio',
      producerVersion: opts.producerVersion ?? '0.1.0',
      docString: opts.docString,
      metadata: opts.metadata,
      opset: ONNX_OPSET,
      graph: {
        name: model.name || 'classifier',
        nodes: g.nodes,
        initializers: g.initializers,
        inputs: [{ name: inputName, shape: inputShape, docString: 'NHWC float32 image pixels in 0..255; normalisation happens inside the graph' }],
        outputs: [{ name: outputName, shape: outShape }],
      },
    })
    return { bytes, inputName, outputName, inputShape, outputShape: outShape, ops: [...g.ops].sort() }
  }
}

/** Converts a TF.js layers model to ONNX ModelProto bytes (opset 13). Throws OnnxExportError for unsupported layers. */
export function layersModelToOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): OnnxExport {
  return new Converter(model).convert(opts)
}
