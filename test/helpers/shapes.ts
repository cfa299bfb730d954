import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'

export const SHAPE_CLASSES = ['circle', 'square', 'triangle'] as const

/** One 64x64 PNG: a coloured shape (the class) at a random place on a noisy light background. */
function shapeSvg(cls: (typeof SHAPE_CLASSES)[number], rnd: () => number): string {
  const s = 18 + Math.floor(rnd() * 14)
  const x = 6 + Math.floor(rnd() * (58 - s - 6))
  const y = 6 + Math.floor(rnd() * (58 - s - 6))
  const bg = `rgb(${225 + Math.floor(rnd() * 30)},${225 + Math.floor(rnd() * 30)},${225 + Math.floor(rnd() * 30)})`
  const shape =
    cls === 'circle'
      ? `<circle cx="${x + s / 2}" cy="${y + s / 2}" r="${s / 2}" fill="#d62828"/>`
      : cls === 'square'
        ? `<rect x="${x}" y="${y}" width="${s}" height="${s}" fill="#1d4ed8"/>`
        : `<polygon points="${x + s / 2},${y} ${x + s},${y + s} ${x},${y + s}" fill="#15803d"/>`
  return `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="${bg}"/>${shape}</svg>`
}

/**
 * A small, easily learnable dataset: a folder per class of generated PNGs, plus one corrupt
 * file (PNG name, not PNG bytes) that an import must report. Returns the corrupt file's path.
 */
export async function writeShapesDataset(dir: string, perClass = 20, seed = 11): Promise<string> {
  let state = seed
  const rnd = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (const cls of SHAPE_CLASSES) {
    mkdirSync(join(dir, cls), { recursive: true })
    for (let i = 0; i < perClass; i++) await sharp(Buffer.from(shapeSvg(cls, rnd))).png().toFile(join(dir, cls, `${cls}-${i}.png`))
  }
  const broken = join(dir, 'circle', 'broken.png')
  writeFileSync(broken, 'this is not an image')
  return broken
}
