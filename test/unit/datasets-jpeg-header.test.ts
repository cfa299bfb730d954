import { describe, it, expect } from 'vitest'
import sharp from 'sharp'
import { readFile } from 'node:fs/promises'
import { readJpegHeader } from '../../src/main/services/datasets/jpeg-header'
import { makeFixtureFolder } from '../fixtures/datasets/make'

const noise = (w: number, h: number) => sharp(Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256)), { raw: { width: w, height: h, channels: 3 } })

async function sharpSays(b: Uint8Array) {
  const m = await sharp(b).metadata()
  return { width: m.width, height: m.height, orientation: m.orientation ?? 1 }
}

describe('JPEG header without decoding', () => {
  it('gives the size and EXIF orientation libvips reads, for every orientation and encoding', async () => {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const b = await noise(37, 21).jpeg({ quality: 70, progressive: orientation % 2 === 0 }).withMetadata({ orientation }).toBuffer()
      expect(readJpegHeader(b)).toEqual(await sharpSays(b))
    }
    const plain = await noise(300, 2).jpeg({ mozjpeg: true }).toBuffer()
    expect(readJpegHeader(plain)).toEqual({ width: 300, height: 2, orientation: 1 })
    // Big-endian ("MM") EXIF, as cameras write it: IFD0 holds only Orientation = 8.
    const tiff = Buffer.from('4d4d002a00000008000101120003000000010008000000000000', 'hex')
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 2 + 6 + tiff.length]), Buffer.from('Exif\0\0', 'latin1'), tiff])
    const motorola = Buffer.concat([plain.subarray(0, 2), app1, plain.subarray(2)])
    expect(readJpegHeader(motorola)).toEqual({ width: 300, height: 2, orientation: 8 })
    expect(readJpegHeader(motorola)).toEqual(await sharpSays(motorola))
  })

  it('agrees with libvips on the decoder fixtures, and leaves damaged headers to libvips', async () => {
    const fx = await makeFixtureFolder()
    for (const name of ['jpeg-exif-orientation-6.jpg', 'cmyk.jpg', 'truncated.jpg']) {
      const b = await readFile(fx.files[name])
      expect(readJpegHeader(b)).toEqual(await sharpSays(b))
    }
    const good = await noise(64, 48).jpeg().toBuffer()
    expect(readJpegHeader(good.subarray(0, 40))).toBeNull()
    expect(readJpegHeader(Buffer.concat([good.subarray(0, 2), Buffer.from([0x00, 0x01]), good.subarray(2)]))).toBeNull()
  })
})
