/**
 * The handful of ONNX messages an exported classifier needs, encoded by hand.
 * Field numbers are those of onnx/onnx.proto (IR version 7, the one that goes with opset 13).
 */
import { ProtoWriter, littleEndianBytes } from './protobuf'

export const ONNX_IR_VERSION = 7
export const ONNX_OPSET = 13

/** TensorProto.DataType values we use. */
export const DT_FLOAT = 1
export const DT_INT64 = 7

export type OnnxAttr =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }

export interface OnnxNode {
  opType: string
  name: string
  inputs: string[]
  outputs: string[]
  attrs?: Record<string, OnnxAttr>
}

export interface OnnxTensor {
  name: string
  dims: number[]
  data: Float32Array | BigInt64Array
}

export interface OnnxValueInfo {
  name: string
  /** Dimension sizes; a string is a symbolic dimension (dim_param), e.g. 'N'. */
  shape: (number | string)[]
  docString?: string
}

export interface OnnxGraph {
  name: string
  nodes: OnnxNode[]
  initializers: OnnxTensor[]
  inputs: OnnxValueInfo[]
  outputs: OnnxValueInfo[]
  docString?: string
}

export interface OnnxModel {
  graph: OnnxGraph
  producerName: string
  producerVersion: string
  docString?: string
  metadata?: Record<string, string>
  opset?: number
}

// AttributeProto.AttributeType
const AT_FLOAT = 1
const AT_INT = 2
const AT_STRING = 3
const AT_FLOATS = 6
const AT_INTS = 7

function writeAttribute(w: ProtoWriter, name: string, a: OnnxAttr): void {
  w.string(1, name) // name
  switch (a.kind) {
    case 'float':
      w.float(2, a.value).int(20, AT_FLOAT)
      break
    case 'int':
      w.int(3, a.value).int(20, AT_INT)
      break
    case 'string':
      w.string(4, a.value).int(20, AT_STRING)
      break
    case 'floats':
      w.packedFloats(7, a.value).int(20, AT_FLOATS)
      break
    case 'ints':
      w.packedInts(8, a.value).int(20, AT_INTS)
      break
  }
}

function writeNode(w: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) w.string(1, i)
  for (const o of n.outputs) w.string(2, o)
  w.string(3, n.name)
  w.string(4, n.opType)
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, (a) => writeAttribute(a, k, v))
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  const expected = t.dims.reduce((a, b) => a * b, 1)
  if (expected !== t.data.length) throw new Error(`ONNX initializer ${t.name}: dims [${t.dims}] need ${expected} values, got ${t.data.length}`)
  w.packedInts(1, t.dims) // dims
  w.int(2, t.data instanceof Float32Array ? DT_FLOAT : DT_INT64) // data_type
  w.string(8, t.name) // name
  w.bytes(9, littleEndianBytes(t.data)) // raw_data
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name)
  // TypeProto { tensor_type (1): TypeProto.Tensor { elem_type (1), shape (2): TensorShapeProto { dim (1): { dim_value (1) | dim_param (2) } } } }
  w.message(2, (type) =>
    type.message(1, (tt) => {
      tt.int(1, DT_FLOAT)
      tt.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)))
      })
    }),
  )
  if (v.docString) w.string(3, v.docString)
}

function writeGraph(w: ProtoWriter, g: OnnxGraph): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n))
  w.string(2, g.name)
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t))
  if (g.docString) w.string(10, g.docString)
  for (const i of g.inputs) w.message(11, (m) => writeValueInfo(m, i))
  for (const o of g.outputs) w.message(12, (m) => writeValueInfo(m, o))
}

/** Serialises a ModelProto. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter()
  w.int(1, ONNX_IR_VERSION) // ir_version
  w.string(2, model.producerName)
  w.string(3, model.producerVersion)
  if (model.docString) w.string(6, model.docString)
  w.message(7, (g) => writeGraph(g, model.graph))
  w.message(8, (op) => op.string(1, '').int(2, model.opset ?? ONNX_OPSET)) // opset_import (default domain)
  for (const [key, value] of Object.entries(model.metadata ?? {})) w.message(14, (e) => e.string(1, key).string(2, value))
  return w.finish()
}
