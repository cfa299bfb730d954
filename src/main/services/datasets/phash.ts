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

/** Bits of the DCT above the median of the 63 AC coefficients (the DC term only sets brightness). */
export function hashFromGray(gray: Uint8Array): string {
  const dct = lowDct(gray)
  const median = Array.from(dct.subarray(1)).sort((a, b) => a - b)[31]
  let hex = ''
  for (let nibble = 0; nibble < 16; nibble++) {
    let v = 0
    for (let b = 0; b < 4; b++) v = (v << 1) | (dct[nibble * 4 + b] > median ? 1 : 0)
    hex += v.toString(16)
  }
  return hex
}

/** pHash of raw pixels (HWC, 1 or 3 channels). */
export async function perceptualHash(pixels: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<string> {
  const gray = await sharp(pixels, { raw: { width, height, channels } }).greyscale().resize(N, N, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer()
  return hashFromGray(new Uint8Array(gray.buffer, gray.byteOffset, N * N))
}

/** Hashes as [hi, lo] uint32 pairs, for fast Hamming distances. */
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
