import sharp, { type Sharp, type Metadata, type OutputInfo } from 'sharp'
import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { ProjectSettings } from '../../../shared/project'
import { BmpError, bmpSize, decodeBmp } from './bmp'
import { readJpegHeader } from './jpeg-header'

sharp.cache(false)
// sharp runs one image per libuv thread (UV_THREADPOOL_SIZE, 4 by default) with sharp.concurrency()
// libvips threads each (1 on glibc): with more cores than that, more threads per image use them all.
sharp.concurrency(Math.max(sharp.concurrency(), Math.ceil(availableParallelism() / (Number(process.env.UV_THREADPOOL_SIZE) || 4))))

/** A file that cannot be imported; `message` is a reason a person understands. */
export class SkipError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SkipError'
  }
}

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'bmp' | 'heif' | 'avif'

/** Decides the format from the first bytes, never from the extension. */
export function sniff(buf: Uint8Array): ImageFormat | null {
  const b = buf
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg'
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a) return 'png'
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif'
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp'
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))) return 'tiff'
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp'
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    const brand = ascii(b, 8, 4)
    if (brand === 'avif' || brand === 'avis') return 'avif'
    if (['heic', 'heix', 'hevc', 'hevx', 'mif1', 'msf1', 'heim', 'heis'].includes(brand)) return 'heif'
  }
  return null
}

function ascii(b: Uint8Array, at: number, n: number): string {
  let s = ''
  for (let i = at; i < at + n && i < b.length; i++) s += String.fromCharCode(b[i])
  return s
}

function looksLikeText(b: Uint8Array): boolean {
  const n = Math.min(b.length, 512)
  let printable = 0
  for (let i = 0; i < n; i++) {
    const c = b[i]
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 0xc2) printable++
  }
  return n > 0 && printable / n > 0.95
}

export interface DecodeOptions {
  maxPixels?: number
  minSide?: number
}

export interface Decoded {
  /** inputSize*inputSize*channels uint8, row-major HWC. */
  data: Uint8Array
  /** Size of the original after EXIF orientation. */
  width: number
  height: number
  format: ImageFormat
}

function hexToRgb(hex: string): { r: number; g: number; b: number } {
  const v = parseInt(hex.slice(1), 16)
  return { r: (v >> 16) & 255, g: (v >> 8) & 255, b: v & 255 }
}

/** Background as the output colour space expects it (gray projects get the Rec.601 luma of the colour). */
function backgroundFor(settings: ProjectSettings) {
  const c = hexToRgb(settings.background)
  return { ...c, alpha: 1 }
}

const FIT = { squash: 'fill', crop: 'cover', pad: 'contain' } as const

function plainSharpError(err: unknown, format: ImageFormat): string {
  const msg = err instanceof Error ? err.message : String(err)
  if (/pixel limit/i.test(msg)) return 'too large: the image has more pixels than the decompression-bomb limit allows'
  if (/premature end|truncated|unexpected end|end of (file|stream|data)|read error|not enough data|short read|out of data/i.test(msg))
    return `damaged: the ${format.toUpperCase()} data is truncated (${firstLine(msg)})`
  if (/unsupported image format|bad seek|corrupt|invalid|error|fail/i.test(msg)) return `damaged: the ${format.toUpperCase()} data cannot be decoded (${firstLine(msg)})`
  return `cannot be decoded as ${format.toUpperCase()} (${firstLine(msg)})`
}

function firstLine(s: string): string {
  const line = s.split('\n').map((l) => l.trim()).filter(Boolean)[0] ?? s
  return line.length > 160 ? line.slice(0, 157) + '...' : line
}

/**
 * The one import pipeline: content sniffing, EXIF orientation, first frame, ICC/CMYK/16-bit/
 * palette/gray -> 8-bit sRGB (or gray), alpha composited on the background, then resized to
 * inputSize x inputSize with the project's mode. Prediction and export use this same function.
 * Throws SkipError with a plain reason for anything that is not a usable image.
 */
export async function decodeImage(buf: Uint8Array, settings: ProjectSettings, opts: DecodeOptions = {}): Promise<Decoded> {
  const maxPixels = opts.maxPixels ?? 100_000_000
  const minSide = opts.minSide ?? 8
  if (buf.length === 0) throw new SkipError('empty file (0 bytes)')
  const format = sniff(buf)
  if (!format) {
    if (looksLikeText(buf)) throw new SkipError('not an image: the file contains text')
    throw new SkipError('not an image: the content is not JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF or HEIF')
  }
  let input: Sharp
  let width: number
  let height: number
  if (format === 'bmp') {
    let size
    try {
      size = bmpSize(buf)
    } catch (err) {
      throw new SkipError(`damaged: ${(err as Error).message}`)
    }
    if (size.width * size.height > maxPixels) throw new SkipError(tooLarge(size.width, size.height, maxPixels))
    let raw
    try {
      raw = decodeBmp(buf)
    } catch (err) {
      if (err instanceof BmpError) throw new SkipError(`cannot be imported: ${err.message}`)
      throw err
    }
    width = raw.width
    height = raw.height
    checkSmall(width, height, minSide)
    input = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } })
  } else {
    const common = { limitInputPixels: maxPixels, failOn: 'error' as const, pages: 1, page: 0, sequentialRead: true }
    const { w0, h0, orientation } = await storedShape(buf, format)
    if (w0 * h0 > maxPixels) throw new SkipError(tooLarge(w0, h0, maxPixels))
    const swap = orientation >= 5
    width = swap ? h0 : w0
    height = swap ? w0 : h0
    checkSmall(width, height, minSide)
    input = sharp(buf, common).autoOrient()
  }
  const size = settings.inputSize
  const bg = backgroundFor(settings)
  let pipe = input
    .flatten({ background: bg })
    .resize(size, size, { fit: FIT[settings.resizeMode], position: 'centre', background: bg, kernel: 'linear' })
  pipe = settings.channels === 1 ? pipe.toColourspace('b-w') : pipe.toColourspace('srgb')
  let out: { data: Buffer; info: OutputInfo }
  try {
    out = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
  } catch (err) {
    throw new SkipError(plainSharpError(await diagnose(err, buf, format), format))
  }
  const { data, info } = out
  if (info.width !== size || info.height !== size || info.channels !== settings.channels)
    throw new Error(`decode pipeline produced ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x${settings.channels}`)
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, format }
}

/**
 * Size and EXIF orientation before decoding: for a JPEG read from its markers (libvips would
 * parse the header once more in the pipeline), otherwise from libvips's header read.
 */
async function storedShape(buf: Uint8Array, format: ImageFormat): Promise<{ w0: number; h0: number; orientation: number }> {
  const jpeg = format === 'jpeg' ? readJpegHeader(buf) : null
  if (jpeg) return { w0: jpeg.width, h0: jpeg.height, orientation: jpeg.orientation }
  let meta: Metadata
  try {
    meta = await sharp(buf, { failOn: 'error', pages: 1, page: 0, limitInputPixels: false }).metadata()
  } catch (err) {
    throw new SkipError(plainSharpError(err, format))
  }
  return { w0: meta.width ?? 0, h0: (meta.pageHeight ?? meta.height) ?? 0, orientation: meta.orientation ?? 1 }
}

let diagnosing: Promise<unknown> = Promise.resolve()

/**
 * libvips keeps one error buffer per process: with several decodes in flight a failure can come
 * back as "Unknown error" (another thread took the message). Decode the file again alone to get
 * the real message, so every skipped file gets the same reason on every run.
 */
async function diagnose(err: unknown, buf: Uint8Array, format: ImageFormat): Promise<unknown> {
  const msg = err instanceof Error ? err.message : String(err)
  if (!/unknown error/i.test(msg) && msg.trim() !== '') return err
  const run = diagnosing.then(async () => {
    try {
      await sharp(buf, { failOn: 'error', pages: 1, page: 0, limitInputPixels: false }).raw().toBuffer()
      return err
    } catch (again) {
      return again
    }
  })
  diagnosing = run.catch(() => undefined)
  void format
  return run
}

function tooLarge(w: number, h: number, max: number): string {
  return `too large: ${w}x${h} is ${(w * h / 1e6).toFixed(0)} megapixels, over the ${(max / 1e6).toFixed(0)}-megapixel limit that guards against decompression bombs`
}

function checkSmall(w: number, h: number, minSide: number) {
  if (w < minSide || h < minSide) throw new SkipError(`too small: ${w}x${h} pixels; images need at least ${minSide} pixels on each side`)
}

/**
 * Decodes a new image file exactly as import does, for prediction and export parity.
 * Returns inputSize*inputSize*channels uint8 pixels (HWC).
 */
export async function decodeForModel(file: string | Uint8Array, settings: ProjectSettings): Promise<Uint8Array> {
  const buf = typeof file === 'string' ? await readFile(file) : file
  return (await decodeImage(buf, settings)).data
}

/** Resizes raw gray/RGB pixels (IDX/CSV records) to the project's settings; copies when nothing changes. */
export async function fitRaw(px: Uint8Array, w: number, h: number, c: 1 | 3, settings: ProjectSettings): Promise<Uint8Array> {
  const size = settings.inputSize
  if (w === size && h === size && c === settings.channels) return px
  if (w === size && h === size && c === 1 && settings.channels === 3) {
    const out = new Uint8Array(size * size * 3)
    for (let i = 0; i < px.length; i++) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = px[i]
    return out
  }
  const bg = backgroundFor(settings)
  let pipe = sharp(px, { raw: { width: w, height: h, channels: c } }).resize(size, size, { fit: FIT[settings.resizeMode], background: bg, kernel: 'linear' })
  pipe = settings.channels === 1 ? pipe.toColourspace('b-w') : pipe.toColourspace('srgb')
  const { data } = await pipe.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}
