/**
 * A small BMP decoder (sharp/libvips cannot read BMP). Handles the files people actually have:
 * BITMAPINFOHEADER and later (V4/V5), OS/2 core header, 1/4/8-bit palette, 16-bit (555/565 or
 * bit fields), 24-bit BGR, 32-bit BGRX/BGRA (bit fields included), bottom-up and top-down rows.
 * RLE-compressed and embedded JPEG/PNG BMPs are refused with a plain reason.
 */
export interface RawImage {
  data: Uint8Array
  width: number
  height: number
  channels: 3 | 4
}

export class BmpError extends Error {}

const MAX_SIDE = 1 << 15

export function bmpSize(buf: Uint8Array): { width: number; height: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  if (buf.length < 26) throw new BmpError('the BMP header is cut short')
  const hdr = dv.getUint32(14, true)
  if (hdr === 12) return { width: dv.getUint16(18, true), height: dv.getUint16(20, true) }
  return { width: Math.abs(dv.getInt32(18, true)), height: Math.abs(dv.getInt32(22, true)) }
}

function maskInfo(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 }
  let shift = 0
  while (((mask >>> shift) & 1) === 0) shift++
  return { shift, max: mask >>> shift }
}

/** The header fields the decoder needs, checked: size, depth, compression, row order. */
interface BmpHeader {
  dataOffset: number
  /** The info header's size (12 for the OS/2 core header). */
  hdr: number
  width: number
  height: number
  bpp: number
  compression: number
  colorsUsed: number
  topDown: boolean
}

export function decodeBmp(buf: Uint8Array): RawImage {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const h = readHeader(buf, dv)
  const masks = readMasks(buf, dv, h)
  const palette = readPalette(buf, h)
  const stride = Math.floor((h.width * h.bpp + 31) / 32) * 4
  if (h.dataOffset + stride * (h.height - 1) + Math.ceil((h.width * h.bpp) / 8) > buf.length)
    throw new BmpError(`the BMP pixel data is cut short (file has ${buf.length} bytes, ${h.dataOffset + stride * h.height} expected)`)
  return decodePixels(buf, dv, h, stride, masks, palette)
}

function readHeader(buf: Uint8Array, dv: DataView): BmpHeader {
  if (buf.length < 26 || buf[0] !== 0x42 || buf[1] !== 0x4d) throw new BmpError('not a BMP file')
  const dataOffset = dv.getUint32(10, true)
  const hdr = dv.getUint32(14, true)
  let width: number, height: number, bpp: number, compression = 0, colorsUsed = 0
  let topDown = false
  if (hdr === 12) {
    width = dv.getUint16(18, true)
    height = dv.getUint16(20, true)
    bpp = dv.getUint16(24, true)
  } else {
    if (hdr < 40 || buf.length < 14 + 40) throw new BmpError(`unsupported BMP header (size ${hdr})`)
    width = dv.getInt32(18, true)
    const hRaw = dv.getInt32(22, true)
    topDown = hRaw < 0
    height = Math.abs(hRaw)
    bpp = dv.getUint16(28, true)
    compression = dv.getUint32(30, true)
    colorsUsed = dv.getUint32(46, true)
  }
  if (width <= 0 || height <= 0 || width > MAX_SIDE || height > MAX_SIDE)
    throw new BmpError(`the BMP header gives an impossible size (${width}x${height})`)
  if (compression === 1 || compression === 2) throw new BmpError('run-length-compressed (RLE) BMP files are not supported; re-save it as PNG')
  if (compression === 4 || compression === 5) throw new BmpError('BMP files holding embedded JPEG/PNG data are not supported; re-save it as PNG')
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new BmpError(`unknown BMP compression ${compression}`)
  return { dataOffset, hdr, width, height, bpp, compression, colorsUsed, topDown }
}

/** Channel masks (red, green, blue, alpha) for 16/32-bit pixels; null for palette and 24-bit ones. */
function readMasks(buf: Uint8Array, dv: DataView, { hdr, bpp, compression }: BmpHeader): number[] | null {
  let masks: number[] | null = null
  if (compression === 3 || compression === 6) {
    const at = hdr >= 52 ? 14 + 40 : 14 + hdr // V2+/V4/V5 headers hold masks inside the header; plain 40-byte headers put them after it
    const n = compression === 6 || hdr >= 56 ? 4 : 3
    if (at + n * 4 > buf.length) throw new BmpError('the BMP colour masks are cut short')
    masks = []
    for (let i = 0; i < n; i++) masks.push(dv.getUint32(at + i * 4, true))
    if (n === 3) masks.push(0)
  } else if (bpp === 16) masks = [0x7c00, 0x03e0, 0x001f, 0]
  else if (bpp === 32) masks = [0x00ff0000, 0x0000ff00, 0x000000ff, 0]
  if (bpp === 32 && hdr >= 56 && compression === 0) masks = [0x00ff0000, 0x0000ff00, 0x000000ff, dv.getUint32(14 + 52, true)]
  return masks
}

/** The colour table of a 1/2/4/8-bit file as RGB triples; null for deeper pixels (refusing other depths). */
function readPalette(buf: Uint8Array, { hdr, bpp, colorsUsed }: BmpHeader): Uint8Array | null {
  if (bpp > 8) {
    if (![16, 24, 32].includes(bpp)) throw new BmpError(`unsupported BMP bit depth ${bpp}`)
    return null
  }
  if (![1, 2, 4, 8].includes(bpp)) throw new BmpError(`unsupported BMP bit depth ${bpp}`)
  const n = colorsUsed || 1 << bpp
  const entry = hdr === 12 ? 3 : 4
  const at = 14 + hdr
  if (at + n * entry > buf.length) throw new BmpError('the BMP palette is cut short')
  const palette = new Uint8Array(256 * 3)
  for (let i = 0; i < Math.min(n, 256); i++) {
    palette[i * 3] = buf[at + i * entry + 2]
    palette[i * 3 + 1] = buf[at + i * entry + 1]
    palette[i * 3 + 2] = buf[at + i * entry]
  }
  return palette
}

/** The pixel rows as top-down RGB (RGBA when an alpha mask is set). */
function decodePixels(buf: Uint8Array, dv: DataView, h: BmpHeader, stride: number, masks: number[] | null, palette: Uint8Array | null): RawImage {
  const { width, height, bpp, dataOffset, topDown } = h
  const hasAlphaMask = masks !== null && masks[3] !== 0
  const channels: 3 | 4 = hasAlphaMask ? 4 : 3
  const out = new Uint8Array(width * height * channels)
  const mi = masks ? masks.map(maskInfo) : null
  const scale = (v: number, m: { shift: number; max: number }) => (m.max === 0 ? 0 : m.max === 255 ? (v >>> m.shift) & 255 : Math.round((((v >>> m.shift) & m.max) * 255) / m.max))
  let alphaSeen = 0
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride
    let o = y * width * channels
    for (let x = 0; x < width; x++, o += channels) {
      if (palette) {
        const bit = x * bpp
        const byte = buf[row + (bit >> 3)]
        const idx = (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1)
        out[o] = palette[idx * 3]
        out[o + 1] = palette[idx * 3 + 1]
        out[o + 2] = palette[idx * 3 + 2]
      } else if (bpp === 24) {
        const p = row + x * 3
        out[o] = buf[p + 2]
        out[o + 1] = buf[p + 1]
        out[o + 2] = buf[p]
      } else {
        const v = bpp === 16 ? dv.getUint16(row + x * 2, true) : dv.getUint32(row + x * 4, true)
        out[o] = scale(v, mi![0])
        out[o + 1] = scale(v, mi![1])
        out[o + 2] = scale(v, mi![2])
        if (channels === 4) {
          out[o + 3] = scale(v, mi![3])
          alphaSeen |= out[o + 3]
        }
      }
    }
  }
  // Many 32-bit BMP writers leave the alpha byte at 0 for opaque images: treat all-zero alpha as opaque.
  if (channels === 4 && alphaSeen === 0) for (let i = 3; i < out.length; i += 4) out[i] = 255
  return { data: out, width, height, channels }
}
