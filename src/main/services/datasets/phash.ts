import sharp from 'sharp'

/**
 * 64-bit DCT perceptual hash (pHash): the image as 32x32 grayscale, its 2-D DCT, the 8x8
 * lowest frequencies, one bit per coefficient above their median. Resized, recompressed and
 * slightly cropped copies land a few bits apart; different photos about half the bits apart.
 * Returned as 16 hex digits.
 */

const N = 32
const LOW = 8

/** DCT-II basis cos((2x+1) u pi / 2N) for u < LOW, x < N. */
const BASIS = (() => {
  const b = new Float64Array(LOW * N)
  for (let u = 0; u < LOW; u++) for (let x = 0; x < N; x++) b[u * N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * N))
  return b
})()

/** The 8x8 low-frequency DCT coefficients of a 32x32 grayscale image (row-major). */
function lowDct(gray: Uint8Array): Float64Array {
  const rows = new Float64Array(N * LOW)
  for (let y = 0; y < N; y++)
    for (let v = 0; v < LOW; v++) {
      let s = 0
      for (let x = 0; x < N; x++) s += gray[y * N + x] * BASIS[v * N + x]
      rows[y * LOW + v] = s
    }
  const out = new Float64Array(LOW * LOW)
  for (let u = 0; u < LOW; u++)
    for (let v = 0; v < LOW; v++) {
      let s = 0
      for (let y = 0; y < N; y++) s += rows[y * LOW + v] * BASIS[u * N + y]
      out[u * LOW + v] = s
    }
  return out
}

/**
 * The image's signature: its pHash (16 hex digits: the 64 bits of the 8x8 DCT above the median
 * of its 63 AC coefficients) and, after a colon, those AC coefficients scaled to unit length as
 * int8 (base64). On plain images (a shape on a flat background) the bits alone match shapes that
 * only share a layout; the coefficients' cosine tells them apart.
 */
export function signatureFromGray(gray: Uint8Array): string {
  const dct = lowDct(gray)
  const ac = dct.subarray(1)
  const median = Array.from(ac).sort((a, b) => a - b)[31]
  let hex = ''
  for (let nibble = 0; nibble < 16; nibble++) {
    let v = 0
    for (let b = 0; b < 4; b++) v = (v << 1) | (dct[nibble * 4 + b] > median ? 1 : 0)
    hex += v.toString(16)
  }
  const norm = Math.hypot(...ac) || 1
  const q = Int8Array.from(ac, (c) => Math.round((c / norm) * 127))
  return `${hex}:${Buffer.from(q.buffer).toString('base64')}`
}

/** The signature of raw pixels (HWC, 1 or 3 channels). */
export async function perceptualSignature(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<string> {
  const gray = await sharp(pixels, { raw: { width, height, channels } }).greyscale().resize(N, N, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer()
  return signatureFromGray(new Uint8Array(gray.buffer, gray.byteOffset, N * N))
}

/** The 63 quantised AC coefficients of each signature, row after row. */
export function acVectors(signatures: string[]): Int8Array {
  const out = new Int8Array(signatures.length * 63)
  signatures.forEach((s, i) => out.set(new Int8Array(Uint8Array.from(Buffer.from(s.slice(17), 'base64')).buffer), i * 63))
  return out
}

/** Cosine of two rows of acVectors (1: the same low-frequency picture). */
export function acCosine(v: Int8Array, a: number, b: number): number {
  let dot = 0
  for (let j = 0; j < 63; j++) dot += v[a * 63 + j] * v[b * 63 + j]
  return dot / (127 * 127)
}

/** The pHash part of signatures as [hi, lo] uint32 pairs, for fast Hamming distances. */
export function hashWords(hashes: string[]): Uint32Array {
  const w = new Uint32Array(hashes.length * 2)
  hashes.forEach((h, i) => {
    w[2 * i] = parseInt(h.slice(0, 8), 16) >>> 0
    w[2 * i + 1] = parseInt(h.slice(8), 16) >>> 0
  })
  return w
}

function popcount(v: number): number {
  v -= (v >>> 1) & 0x55555555
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
}

export function hamming(w: Uint32Array, a: number, b: number): number {
  return popcount(w[2 * a] ^ w[2 * b]) + popcount(w[2 * a + 1] ^ w[2 * b + 1])
}
