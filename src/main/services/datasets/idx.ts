import { readdir, readFile, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { Split } from '../../../shared/project'
import { ByteReader, openMaybeGz } from './records'

/** One IDX images file with its labels file (Fashion-MNIST / MNIST layout). */
export interface IdxPair {
  images: string
  labels: string
  split?: Split
}

const CLASS_NAME_FILES = ['classes.txt', 'class_names.txt', 'class-names.txt', 'classnames.txt', 'labels.txt']

function splitFromName(name: string): Split | undefined {
  const n = name.toLowerCase()
  if (/^(t10k|test)/.test(n)) return 'test'
  if (/^(val|valid|validation)[-_.]/.test(n)) return 'validation'
  if (/^train/.test(n)) return 'train'
  return undefined
}

/** Finds image/label IDX pairs in a folder (or for one images/labels file), by file name. */
export async function findIdxPairs(source: string): Promise<{ pairs: IdxPair[]; classNames: string[] | null }> {
  const st = await stat(source)
  const dir = st.isFile() ? dirname(source) : source
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.'))
  const imageFiles = st.isFile() ? [basename(source)] : names.filter((n) => /idx3-ubyte/i.test(n) || /images/i.test(n) && /ubyte/i.test(n))
  const pairs: IdxPair[] = []
  for (const img of imageFiles) {
    let lab = img.replace(/images/i, 'labels').replace(/idx3/i, 'idx1')
    if (lab === img) lab = img.replace(/labels/i, 'images').replace(/idx1/i, 'idx3')
    const candidates = [lab, lab.endsWith('.gz') ? lab.slice(0, -3) : lab + '.gz']
    const found = candidates.find((c) => names.includes(c))
    if (!found) throw new Error(`No labels file for ${join(dir, img)}: expected ${join(dir, lab)} next to it (an idx1 file with one label byte per image).`)
    const imgPath = join(dir, img)
    const labPath = join(dir, found)
    const head = await idxHeader(imgPath)
    if (head.dims.length !== 3) {
      // The user picked the labels file: swap.
      pairs.push({ images: labPath, labels: imgPath, split: splitFromName(img) })
    } else pairs.push({ images: imgPath, labels: labPath, split: splitFromName(img) })
  }
  if (!pairs.length) throw new Error(`No IDX image files (…-images-idx3-ubyte[.gz]) found in ${dir}.`)
  let classNames: string[] | null = null
  const cn = names.find((n) => CLASS_NAME_FILES.includes(n.toLowerCase()))
  if (cn) classNames = (await readFile(join(dir, cn), 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter(Boolean)
  return { pairs, classNames }
}

export interface IdxHeader {
  type: number
  dims: number[]
  headerBytes: number
}

async function idxHeader(path: string): Promise<IdxHeader> {
  const r = new ByteReader(await openMaybeGz(path))
  try {
    return await readHeader(r, path)
  } finally {
    await r.close()
  }
}

async function readHeader(r: ByteReader, path: string): Promise<IdxHeader> {
  const magic = await r.read(4)
  if (!magic || magic[0] !== 0 || magic[1] !== 0) throw new Error(`${path} is not an IDX file: it does not start with the IDX magic number (00 00 type ndims).`)
  const type = magic[2]
  const nd = magic[3]
  if (type !== 0x08) throw new Error(`${path}: only unsigned-byte IDX data (type 0x08) is supported, this file has type 0x${type.toString(16)}.`)
  if (nd < 1 || nd > 4) throw new Error(`${path}: unexpected IDX dimension count ${nd}.`)
  const d = await r.read(4 * nd)
  if (!d) throw new Error(`${path}: the IDX header is cut short.`)
  const dv = new DataView(d.buffer)
  const dims = Array.from({ length: nd }, (_, i) => dv.getUint32(i * 4, false))
  return { type, dims, headerBytes: 4 + 4 * nd }
}

/** Streams the records of an IDX image file with their labels. Pixels are exactly the file's bytes. */
export async function* readIdx(pair: IdxPair, signal?: AbortSignal): AsyncGenerator<{ index: number; label: number; pixels: Uint8Array; width: number; height: number; count: number }> {
  const lr = new ByteReader(await openMaybeGz(pair.labels))
  let labels: Uint8Array
  try {
    const lh = await readHeader(lr, pair.labels)
    if (lh.dims.length !== 1) throw new Error(`${pair.labels} is not an IDX labels file (expected 1 dimension, found ${lh.dims.length}).`)
    const l = await lr.read(lh.dims[0])
    if (!l) throw new Error(`${pair.labels}: no labels.`)
    labels = l
  } finally {
    await lr.close()
  }
  const r = new ByteReader(await openMaybeGz(pair.images))
  try {
    const h = await readHeader(r, pair.images)
    if (h.dims.length !== 3) throw new Error(`${pair.images} is not an IDX images file (expected 3 dimensions N x H x W, found ${h.dims.length}).`)
    const [n, height, width] = h.dims
    if (n !== labels.length) throw new Error(`${pair.images} has ${n} images but ${pair.labels} has ${labels.length} labels; they must match.`)
    for (let i = 0; i < n; i++) {
      if ((i & 1023) === 0) signal?.throwIfAborted()
      const px = await r.read(width * height)
      if (!px) throw new Error(`${pair.images} ends after ${i} of ${n} images.`)
      yield { index: i, label: labels[i], pixels: px, width, height, count: n }
    }
  } finally {
    await r.close()
  }
}
