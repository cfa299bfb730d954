import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { dirname, resolve, sep } from 'node:path'
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createInflateRaw, crc32 } from 'node:zlib'
import { AppError } from '../../../shared/errors'

/**
 * A small zip reader (stored and deflate entries, as every common zip tool writes them) on
 * node:zlib, so an archive such as cats_and_dogs_filtered.zip can be unpacked on every platform
 * without an external `unzip` or a new dependency. Each entry's CRC-32 and size are checked;
 * entries that would land outside the target folder ("zip slip") are refused.
 */

export interface ZipEntry {
  name: string
  method: number
  compressedSize: number
  size: number
  crc: number
  localHeaderOffset: number
  isDir: boolean
}

export interface ExtractProgress {
  done: number
  total: number
  bytes: number
}

const EOCD = 0x06054b50
const CDH = 0x02014b50
const LFH = 0x04034b50

function bad(path: string, what: string): AppError {
  return new AppError('INVALID_INPUT', `${path} is not a readable zip archive: ${what}.`, 'Download it again (a damaged download), or unpack it yourself and pick the folder instead.')
}

export async function listZip(path: string): Promise<ZipEntry[]> {
  const fh = await open(path, 'r')
  try {
    const size = (await fh.stat()).size
    const tailLen = Math.min(size, 22 + 0xffff)
    const tail = Buffer.alloc(tailLen)
    await fh.read(tail, 0, tailLen, size - tailLen)
    let at = -1
    for (let i = tailLen - 22; i >= 0; i--) if (tail.readUInt32LE(i) === EOCD) { at = i; break }
    if (at < 0) throw bad(path, 'no end-of-central-directory record (the file is cut short or not a zip)')
    const count = tail.readUInt16LE(at + 10)
    const cdSize = tail.readUInt32LE(at + 12)
    const cdOffset = tail.readUInt32LE(at + 16)
    if (count === 0xffff || cdOffset === 0xffffffff || cdSize === 0xffffffff)
      throw new AppError('INVALID_INPUT', `${path} is a ZIP64 archive (over 4 GiB or 65,535 entries), which this reader does not support.`, 'Unpack it with your system\'s archive tool and pick the folder instead.')
    if (cdOffset + cdSize > size) throw bad(path, 'the central directory points past the end of the file')
    const cd = Buffer.alloc(cdSize)
    await fh.read(cd, 0, cdSize, cdOffset)
    const entries: ZipEntry[] = []
    let p = 0
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDH) throw bad(path, `central directory entry ${i} is damaged`)
      const flags = cd.readUInt16LE(p + 8)
      const method = cd.readUInt16LE(p + 10)
      const crc = cd.readUInt32LE(p + 16)
      const compressedSize = cd.readUInt32LE(p + 20)
      const sz = cd.readUInt32LE(p + 24)
      const nameLen = cd.readUInt16LE(p + 28)
      const extraLen = cd.readUInt16LE(p + 30)
      const commentLen = cd.readUInt16LE(p + 32)
      const localHeaderOffset = cd.readUInt32LE(p + 42)
      const name = cd.subarray(p + 46, p + 46 + nameLen).toString(flags & 0x800 ? 'utf8' : 'latin1')
      if (flags & 1) throw new AppError('INVALID_INPUT', `${path} is encrypted (entry ${name}); encrypted archives are not supported.`, 'Unpack it yourself and pick the folder instead.')
      entries.push({ name, method, compressedSize, size: sz, crc, localHeaderOffset, isDir: name.endsWith('/') })
      p += 46 + nameLen + extraLen + commentLen
    }
    return entries
  } finally {
    await fh.close()
  }
}

class Crc extends Transform {
  crc = 0
  bytes = 0
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
    this.crc = crc32(chunk, this.crc)
    this.bytes += chunk.length
    cb(null, chunk)
  }
}

/** Safe target path of an entry inside `dest`, or null for entries to skip. Throws on zip slip. */
function target(dest: string, name: string, archive: string): string | null {
  const clean = name.replace(/\\/g, '/')
  if (clean.startsWith('/') || /^[a-zA-Z]:/.test(clean) || clean.split('/').includes('..'))
    throw new AppError('INVALID_INPUT', `${archive} has an entry that would be written outside the target folder: "${name}". Nothing more was extracted.`, 'Do not use this archive; get the data set from its official source.')
  if (clean.split('/').some((part) => part === '__MACOSX')) return null
  const out = resolve(dest, clean)
  if (out !== resolve(dest) && !out.startsWith(resolve(dest) + sep)) throw new AppError('INVALID_INPUT', `${archive}: entry "${name}" escapes the target folder.`)
  return out
}

/**
 * Extracts the archive into `dest` (which must not exist yet): into `dest.tmp-…` first, then
 * renamed, so `dest` exists only when everything was extracted and checked.
 */
export async function extractZip(archive: string, dest: string, opts: { onProgress?: (p: ExtractProgress) => void; signal?: AbortSignal } = {}): Promise<{ files: number; bytes: number }> {
  const entries = await listZip(archive)
  const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`
  await rm(tmp, { recursive: true, force: true })
  await mkdir(tmp, { recursive: true })
  const files = entries.filter((e) => !e.isDir && !e.name.replace(/\\/g, '/').split('/').includes('__MACOSX'))
  let done = 0
  let bytes = 0
  let last = 0
  try {
    const fh = await open(archive, 'r')
    try {
      for (const e of entries) {
        opts.signal?.throwIfAborted()
        const out = target(tmp, e.name, archive)
        if (!out) continue
        if (e.isDir) {
          await mkdir(out, { recursive: true })
          continue
        }
        if (e.method !== 0 && e.method !== 8)
          throw new AppError('INVALID_INPUT', `${archive}: entry ${e.name} uses compression method ${e.method}; only stored (0) and deflate (8) are supported.`, 'Unpack it with your system\'s archive tool and pick the folder instead.')
        const lh = Buffer.alloc(30)
        await fh.read(lh, 0, 30, e.localHeaderOffset)
        if (lh.readUInt32LE(0) !== LFH) throw bad(archive, `the local header of ${e.name} is damaged`)
        const dataStart = e.localHeaderOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28)
        await mkdir(dirname(out), { recursive: true })
        const crc = new Crc()
        try {
          if (e.compressedSize === 0) await pipeline(Readable.from([]), crc, createWriteStream(out), { signal: opts.signal })
          else {
            const src = createReadStream(archive, { start: dataStart, end: dataStart + e.compressedSize - 1 })
            if (e.method === 8) await pipeline(src, createInflateRaw(), crc, createWriteStream(out), { signal: opts.signal })
            else await pipeline(src, crc, createWriteStream(out), { signal: opts.signal })
          }
        } catch (err) {
          if (opts.signal?.aborted) throw err
          throw bad(archive, `entry ${e.name} cannot be decompressed (${(err as Error).message})`)
        }
        if (crc.bytes !== e.size || crc.crc >>> 0 !== e.crc >>> 0) throw bad(archive, `entry ${e.name} fails its CRC-32/size check (the archive is damaged)`)
        bytes += crc.bytes
        done++
        const now = Date.now()
        if (opts.onProgress && now - last > 200) {
          last = now
          opts.onProgress({ done, total: files.length, bytes })
        }
      }
    } finally {
      await fh.close()
    }
    opts.onProgress?.({ done, total: files.length, bytes })
    if (await stat(dest).then(() => true, () => false)) throw new AppError('INVALID_INPUT', `Cannot extract ${archive} into ${dest}: it already exists.`)
    await rename(tmp, dest)
    return { files: done, bytes }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    if (opts.signal?.aborted) throw new AppError('CANCELLED', `Extraction of ${archive} cancelled; nothing was kept.`, 'Start it again to extract from the beginning.')
    throw err
  }
}

