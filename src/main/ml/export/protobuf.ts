/**
 * A tiny protobuf *writer*: just what the ONNX messages we emit need (varint, 64-bit ints as varints,
 * length-delimited bytes / strings / sub-messages, packed repeated ints and floats).
 * Wire format: https://protobuf.dev/programming-guides/encoding/
 */

const WIRE_VARINT = 0
const WIRE_LEN = 2

const utf8 = new TextEncoder()

export class ProtoWriter {
  private chunks: Uint8Array[] = []
  private buf = new Uint8Array(256)
  private pos = 0

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    this.flush()
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, this.buf.length * 2))
  }

  private flush(): void {
    if (this.pos > 0) {
      this.chunks.push(this.buf.slice(0, this.pos))
      this.pos = 0
    }
  }

  private rawVarint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value))
    this.ensure(10)
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    this.buf[this.pos++] = Number(v)
  }

  private rawBytes(bytes: Uint8Array): void {
    if (bytes.length > 4096) {
      this.flush()
      this.chunks.push(bytes)
      return
    }
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  private tag(field: number, wire: number): void {
    this.rawVarint((field << 3) | wire)
  }

  /** int32 / int64 / enum / bool fields (negative numbers are written as 10-byte two's complement, as protobuf does). */
  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT)
    this.rawVarint(value)
    return this
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN)
    this.rawVarint(value.length)
    this.rawBytes(value)
    return this
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value))
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const sub = new ProtoWriter()
    build(sub)
    return this.bytes(field, sub.finish())
  }

  packedInts(field: number, values: ArrayLike<number | bigint>): this {
    const sub = new ProtoWriter()
    for (let i = 0; i < values.length; i++) sub.rawVarint(values[i])
    return this.bytes(field, sub.finish())
  }

  packedFloats(field: number, values: ArrayLike<number>): this {
    const f = new Float32Array(values.length)
    for (let i = 0; i < values.length; i++) f[i] = values[i]
    return this.bytes(field, littleEndianBytes(f))
  }

  /** A single `float` field (wire type 5, fixed 32-bit little-endian). */
  float(field: number, value: number): this {
    this.tag(field, 5)
    const b = new Uint8Array(4)
    new DataView(b.buffer).setFloat32(0, value, true)
    this.rawBytes(b)
    return this
  }

  finish(): Uint8Array {
    this.flush()
    let n = 0
    for (const c of this.chunks) n += c.length
    const out = new Uint8Array(n)
    let o = 0
    for (const c of this.chunks) {
      out.set(c, o)
      o += c.length
    }
    this.chunks = [out]
    return out
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** The bytes of a typed array in little-endian order (ONNX raw_data is always little-endian). */
export function littleEndianBytes(a: Float32Array | BigInt64Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  if (LITTLE_ENDIAN) return bytes.slice()
  const out = new Uint8Array(bytes.length)
  const w = a.BYTES_PER_ELEMENT
  for (let i = 0; i < bytes.length; i += w) for (let j = 0; j < w; j++) out[i + j] = bytes[i + w - 1 - j]
  return out
}
