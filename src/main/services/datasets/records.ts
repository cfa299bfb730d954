import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { createGunzip } from 'node:zlib'
import type { Readable } from 'node:stream'

/** Opens a file as a byte stream, gunzipping it when its content (not its name) is gzip. */
export async function openMaybeGz(path: string): Promise<Readable> {
  const fh = await open(path, 'r')
  const head = new Uint8Array(2)
  try {
    await fh.read(head, 0, 2, 0)
  } finally {
    await fh.close()
  }
  const raw = createReadStream(path, { highWaterMark: 1 << 20 })
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip({ chunkSize: 1 << 20 })
    raw.on('error', (e) => gz.destroy(e))
    return raw.pipe(gz)
  }
  return raw
}

/** Reads exact-size records from a stream without holding the whole file. */
export class ByteReader {
  private it: AsyncIterator<Buffer>
  private buf: Buffer = Buffer.alloc(0)
  private pos = 0
  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]()
  }
  /** Returns exactly n bytes (a copy), or null at end of stream; a partial record at the end throws. */
  async read(n: number): Promise<Uint8Array | null> {
    while (this.buf.length - this.pos < n) {
      const r = await this.it.next()
      if (r.done) {
        if (this.buf.length - this.pos === 0) return null
        throw new Error(`the file ends in the middle of a record (${this.buf.length - this.pos} of ${n} bytes)`)
      }
      this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), r.value]) : r.value
      this.pos = 0
    }
    const out = new Uint8Array(n)
    out.set(this.buf.subarray(this.pos, this.pos + n))
    this.pos += n
    return out
  }
  async close() {
    await this.it.return?.()
  }
}
