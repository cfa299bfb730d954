import { open, type FileHandle } from 'node:fs/promises'

/**
 * NumPy .npy files (format 1.0), written as a stream: the header says the final shape, the data
 * follows in C order. `np.load(path, mmap_mode='r')` maps them without reading them into memory.
 */

export type NpyDtype = '|u1' | '<i4' | '<f4'

export function npyHeader(dtype: NpyDtype, shape: number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${dims}, }`
  // magic (6) + version (2) + header length (2) + dict + padding + '\n' is a multiple of 64.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n'
  const head = Buffer.alloc(10)
  head.write('\x93NUMPY', 0, 'latin1')
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(dict.length, 8)
  return Buffer.concat([head, Buffer.from(dict, 'latin1')])
}

/** An .npy file written in parts; close() checks that exactly the announced bytes were written. */
export class NpyWriter {
  private written = 0
  private constructor(
    private readonly fh: FileHandle,
    private readonly expected: number,
    readonly path: string,
  ) {}

  static async create(path: string, dtype: NpyDtype, shape: number[]): Promise<NpyWriter> {
    const fh = await open(path, 'w')
    await fh.write(npyHeader(dtype, shape))
    const item = dtype === '|u1' ? 1 : 4
    return new NpyWriter(fh, shape.reduce((a, b) => a * b, 1) * item, path)
  }

  async write(data: Uint8Array): Promise<void> {
    await this.fh.write(data)
    this.written += data.byteLength
  }

  async close(): Promise<void> {
    try {
      if (this.written !== this.expected) throw new Error(`${this.path}: wrote ${this.written} bytes where its header announces ${this.expected}.`)
      await this.fh.sync()
    } finally {
      await this.fh.close()
    }
  }
}

/** Reads a small .npy file (labels) fully; returns its dtype, shape and bytes. */
export function parseNpy(buf: Buffer): { dtype: string; shape: number[]; data: Buffer } {
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error('not an .npy file')
  const major = buf[6]
  const hl = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = buf.toString('latin1', start, start + hl)
  const dtype = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? ''
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number)
  return { dtype, shape, data: buf.subarray(start + hl) }
}
