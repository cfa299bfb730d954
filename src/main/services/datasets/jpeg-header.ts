/** What the import needs from a JPEG before decoding it: the stored size and the EXIF orientation. */
export interface JpegHeader {
  width: number
  height: number
  /** EXIF orientation 1..8; 1 when absent or not 1..8 (sharp then does not rotate). */
  orientation: number
}

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])
const SOS = 0xda

/**
 * Reads the frame size and EXIF orientation from the markers before the scan, without decoding,
 * so the import opens each JPEG once (in the resize pipeline). Null when the markers are not
 * plain (cut short, no frame, a height given later by DNL): the caller asks libvips instead.
 */
export function readJpegHeader(b: Uint8Array): JpegHeader | null {
  let at = 2
  let orientation = 1
  let frame: { width: number; height: number } | null = null
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff) return null
    const marker = b[at + 1]
    if (marker === 0xff) {
      at++
      continue
    }
    if (marker === SOS) break
    const len = (b[at + 2] << 8) | b[at + 3]
    if (len < 2 || at + 2 + len > b.length) return null
    const body = b.subarray(at + 4, at + 2 + len)
    if (SOF.has(marker)) {
      if (body.length < 5) return null
      frame = { height: (body[1] << 8) | body[2], width: (body[3] << 8) | body[4] }
    } else if (marker === 0xe1 && isExif(body)) {
      orientation = exifOrientation(body.subarray(6)) ?? orientation
    }
    at += 2 + len
  }
  if (!frame || frame.width === 0 || frame.height === 0) return null
  return { ...frame, orientation }
}

function isExif(body: Uint8Array): boolean {
  return body.length >= 14 && body[0] === 0x45 && body[1] === 0x78 && body[2] === 0x69 && body[3] === 0x66 && body[4] === 0 && body[5] === 0
}

/** The Orientation tag (0x0112, SHORT) of IFD0 in a TIFF block; null when the block has none. */
function exifOrientation(t: Uint8Array): number | null {
  const le = t[0] === 0x49 && t[1] === 0x49
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return null
  const u16 = (i: number) => (le ? t[i] | (t[i + 1] << 8) : (t[i] << 8) | t[i + 1])
  const u32 = (i: number) => (le ? (t[i] | (t[i + 1] << 8) | (t[i + 2] << 16)) + t[i + 3] * 2 ** 24 : t[i] * 2 ** 24 + ((t[i + 1] << 16) | (t[i + 2] << 8) | t[i + 3]))
  const ifd = u32(4)
  if (ifd + 2 > t.length) return null
  const n = u16(ifd)
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + k * 12
    if (e + 12 > t.length) return null
    if (u16(e) !== 0x0112) continue
    const v = u16(e + 2) === 3 ? u16(e + 8) : 0
    return v >= 1 && v <= 8 ? v : 1
  }
  return null
}
