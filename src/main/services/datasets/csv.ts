import { readdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Split } from '../../../shared/project'
import type { SkippedFile } from '../../../shared/datasets'
import { openMaybeGz } from './records'

export interface CsvFile {
  path: string
  split?: Split
}

function splitFromName(name: string): Split | undefined {
  const n = name.toLowerCase()
  if (/test/.test(n)) return 'test'
  if (/(^|[-_.])(val|valid|validation)([-_.]|$)/.test(n)) return 'validation'
  if (/train/.test(n)) return 'train'
  return undefined
}

export async function findCsvFiles(source: string): Promise<CsvFile[]> {
  const st = await stat(source)
  if (st.isFile()) return [{ path: source, split: undefined }]
  const names = (await readdir(source)).filter((n) => !n.startsWith('.') && /\.csv(\.gz)?$/i.test(n)).sort()
  if (!names.length) throw new Error(`No .csv or .csv.gz files in ${source}.`)
  const files = names.map((n) => ({ path: join(source, n), split: splitFromName(n) }))
  // Names only give a split when every file has one; otherwise they are all one pool.
  if (files.some((f) => f.split === undefined)) for (const f of files) f.split = undefined
  return files
}

export interface CsvRecord {
  line: number
  label: string
  pixels: Uint8Array
  width: number
  height: number
  channels: 1 | 3
}

/**
 * Streams a CSV of pixels (label in the first column, then H*W gray or H*W*3 RGB values 0..255;
 * optional header row; CRLF or LF; gzip or plain). Rows that do not fit are reported via onSkip.
 */
export async function* readCsv(path: string, onSkip: (s: SkippedFile) => void, signal?: AbortSignal): AsyncGenerator<CsvRecord> {
  const rl = createInterface({ input: await openMaybeGz(path), crlfDelay: Infinity })
  let lineNo = 0
  let cols = -1
  let side = 0
  let channels: 1 | 3 = 1
  const name = basename(path)
  try {
    for await (const raw of rl) {
      lineNo++
      if ((lineNo & 1023) === 0) signal?.throwIfAborted()
      const line = raw.trim()
      if (!line) continue
      const parts = line.split(',')
      if (cols < 0) {
        const isHeader = parts.some((p) => p.trim() !== '' && !/^-?\d+(\.\d+)?$/.test(p.trim()))
        const n = parts.length - 1
        const g = Math.round(Math.sqrt(n))
        const c = Math.round(Math.sqrt(n / 3))
        if (g * g === n) {
          side = g
          channels = 1
        } else if (3 * c * c === n) {
          side = c
          channels = 3
        } else
          throw new Error(`${path}: rows have ${n} pixel columns after the label; expected a square image (e.g. 784 = 28x28 gray, or 3x32x32 RGB).`)
        cols = parts.length
        if (isHeader) continue
      }
      if (parts.length !== cols) {
        onSkip({ path: `${name} line ${lineNo}`, reason: `row has ${parts.length} columns, expected ${cols}` })
        continue
      }
      const label = parts[0].trim().replace(/^"(.*)"$/, '$1')
      if (!label) {
        onSkip({ path: `${name} line ${lineNo}`, reason: 'row has an empty label' })
        continue
      }
      const px = new Uint8Array(cols - 1)
      let bad = ''
      for (let i = 1; i < cols; i++) {
        const s = parts[i]
        const v = Number(s)
        if (!Number.isInteger(v) || v < 0 || v > 255 || s.trim() === '') {
          bad = `pixel column ${i} is "${s.trim()}", expected an integer 0..255`
          break
        }
        px[i - 1] = v
      }
      if (bad) {
        onSkip({ path: `${name} line ${lineNo}`, reason: bad })
        continue
      }
      let pixels = px
      if (channels === 3) {
        // Channel-planar rows (CIFAR style: all R, then G, then B) -> interleaved HWC.
        const n = side * side
        pixels = new Uint8Array(n * 3)
        for (let i = 0; i < n; i++) {
          pixels[i * 3] = px[i]
          pixels[i * 3 + 1] = px[n + i]
          pixels[i * 3 + 2] = px[2 * n + i]
        }
      }
      yield { line: lineNo, label, pixels, width: side, height: side, channels }
    }
  } finally {
    rl.close()
  }
}
