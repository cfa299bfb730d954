import { createReadStream } from 'node:fs'
import { lstat } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { crc32 } from 'node:zlib'
import { AppError } from '../../../shared/errors'

/**
 * A minimal zip writer (store only, no compression: model weights barely compress) for the
 * browser studio's export download. Streams: each file is read twice (its CRC-32 first, then its
 * bytes), so nothing is held in memory. Names are UTF-8 (flag bit 11); no ZIP64, so each file and
 * the archive stay under 4 GiB (an export is far smaller). services/examples/zip.ts reads these.
 */
export interface ZipSource {
  /** The name inside the archive ('/'-separated, relative). */
  name: string
  /** The file on disk. */
  path: string
}

const MAX = 0xffffffff

function dosTime(d: Date): { time: number; date: number } {
  const year = Math.max(1980, d.getFullYear())
  return { time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2), date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate() }
}

async function crcOf(path: string): Promise<{ crc: number; size: number }> {
  let crc = 0
  let size = 0
  for await (const chunk of createReadStream(path)) {
    crc = crc32(chunk as Buffer, crc)
    size += (chunk as Buffer).length
  }
  return { crc, size }
}

async function* entries(files: ZipSource[], now: Date): AsyncGenerator<Buffer> {
  const central: Buffer[] = []
  let offset = 0
  const { time, date } = dosTime(now)
  for (const f of files) {
    if (!(await lstat(f.path)).isFile()) throw new AppError('INVALID_INPUT', `${f.path} is not a regular file; it cannot go into the zip.`)
    const { crc, size } = await crcOf(f.path)
    const name = Buffer.from(f.name, 'utf8')
    if (size >= MAX || offset >= MAX) throw new AppError('INVALID_INPUT', `${f.name} makes the zip larger than 4 GB.`, 'Copy the export folder from the server instead.')
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(10, 4) // version needed: 1.0 (stored)
    local.writeUInt16LE(0x0800, 6) // UTF-8 names
    local.writeUInt16LE(0, 8) // stored
    local.writeUInt16LE(time, 10)
    local.writeUInt16LE(date, 12)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(size, 18)
    local.writeUInt32LE(size, 22)
    local.writeUInt16LE(name.length, 26)
    local.writeUInt16LE(0, 28)
    yield local
    yield name
    let sent = 0
    for await (const chunk of createReadStream(f.path, { end: Math.max(0, size - 1) })) {
      if (size === 0) break
      sent += (chunk as Buffer).length
      yield chunk as Buffer
    }
    if (sent !== size) throw new AppError('CONFLICT', `${f.path} changed while it was being zipped.`, 'Download again.')
    const cd = Buffer.alloc(46)
    cd.writeUInt32LE(0x02014b50, 0)
    cd.writeUInt16LE((3 << 8) | 20, 4) // made by: Unix, 2.0
    cd.writeUInt16LE(10, 6)
    cd.writeUInt16LE(0x0800, 8)
    cd.writeUInt16LE(0, 10)
    cd.writeUInt16LE(time, 12)
    cd.writeUInt16LE(date, 14)
    cd.writeUInt32LE(crc, 16)
    cd.writeUInt32LE(size, 20)
    cd.writeUInt32LE(size, 24)
    cd.writeUInt16LE(name.length, 28)
    cd.writeUInt32LE(((0o100644 << 16) >>> 0), 38) // external attributes: a regular file, rw-r--r--
    cd.writeUInt32LE(offset, 42)
    central.push(cd, name)
    offset += 30 + name.length + size
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0)
  if (offset + cdSize >= MAX || files.length > 0xffff) throw new AppError('INVALID_INPUT', 'The zip would be larger than 4 GB or hold more than 65,535 files.', 'Copy the export folder from the server instead.')
  for (const c of central) yield c
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(files.length, 8)
  end.writeUInt16LE(files.length, 10)
  end.writeUInt32LE(cdSize, 12)
  end.writeUInt32LE(offset, 16)
  yield end
}

/** A stored (uncompressed) zip of `files`, as a stream. */
export function zipStream(files: ZipSource[], now = new Date()): Readable {
  for (const f of files)
    if (!f.name || f.name.startsWith('/') || f.name.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new AppError('INVALID_INPUT', `${JSON.stringify(f.name)} is not a relative name for a zip entry.`)
  return Readable.from(entries(files, now), { objectMode: false })
}
