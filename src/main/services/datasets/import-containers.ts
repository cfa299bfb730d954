import { stat } from 'node:fs/promises'
import { AppError } from '../../../shared/errors'
import type { Split } from '../../../shared/project'
import { DatasetWriteError } from './cache'
import { findCsvFiles, readCsv } from './csv'
import { fitRaw } from './decode'
import { findIdxPairs, readIdx, type IdxPair } from './idx'
import { abortSeen, activeHashes, contentHash, needsDecoding, Progress, type ImportControl, type ImportState } from './import-state'

/** An IDX images file (with its labels file as `pair`) or a CSV of pixels. */
interface Container {
  path: string
  split?: Split
  classNames?: string[] | null
  pair?: IdxPair
}

/** One pass over the containers: the hashes already in the project and the running counts. */
interface Reading {
  before: Map<string, string>
  prog: Progress
  signal?: AbortSignal
  /** The next new item's place in the source. */
  order: number
  done: number
}

type AddRecord = (src: string, labelName: string, px: Uint8Array, w: number, h: number, ch: 1 | 3) => Promise<void>

/** IDX / CSV: records streamed from container files; decoding is a copy (or a resize). */
export async function decodeContainers(s: ImportState, kind: 'idx' | 'csv', source: string, ctl: ImportControl): Promise<void> {
  const containers = await listContainers(kind, source)
  // A folder of train/test files gives splits only when it has a train file.
  const stats = await Promise.all(containers.map((c) => stat(c.path)))
  const work = containers.map((c, i) => ({ c, st: stats[i] })).filter(({ c, st }) => needsDecoding(s, c.path, st, true))
  const r: Reading = { before: activeHashes(s), prog: new Progress(ctl.onProgress, 'decode', 0), signal: ctl.signal, order: 0, done: 0 }
  for (const { c, st } of work) {
    if (s.aborted) break
    const orders = await readContainer(s, c, r)
    if (!s.aborted) s.fileUpdates[c.path] = { size: st.size, mtimeMs: st.mtimeMs, orders }
  }
  r.prog.tick(r.done, true)
}

async function listContainers(kind: 'idx' | 'csv', source: string): Promise<Container[]> {
  if (kind === 'csv') return (await findCsvFiles(source)).map((f) => ({ path: f.path, split: f.split }))
  const { pairs, classNames } = await findIdxPairs(source).catch((err: Error) => {
    throw new AppError('INVALID_INPUT', err.message)
  })
  return pairs.map((p) => ({ path: p.images, split: p.split, classNames, pair: p }))
}

/** Reads one container's records into the chunks; the orders of the items it added. */
async function readContainer(s: ImportState, c: Container, r: Reading): Promise<number[]> {
  const orders: number[] = []
  const add: AddRecord = async (src, labelName, px, w, h, ch) => {
    const hash = contentHash(px)
    const dupOf = r.before.get(hash)
    if (dupOf) {
      s.skipped.push({ path: src, reason: `already in the project: same content as ${dupOf}` })
      return
    }
    const data = await fitRaw(px, w, h, ch, s.settings)
    const at = s.writer.append(data)
    s.newItems.push({ order: r.order, src, labelName, split: s.opts.split ?? c.split, chunk: at.chunk, slot: at.slot, hash, w, h })
    orders.push(r.order++)
    if (at.slot === s.writer.perChunk - 1) await s.writer.drain()
  }
  try {
    if (c.pair) await readIdxRecords(s, c, c.pair, r, add)
    else await readCsvRecords(s, c, r, add)
  } catch (err) {
    if (err instanceof AppError || err instanceof DatasetWriteError) throw err
    throw new AppError('INVALID_INPUT', `Cannot import ${c.path}: ${(err as Error).message}`, 'Check that the file is a complete IDX / CSV-of-pixels file.')
  }
  return orders
}

async function readIdxRecords(s: ImportState, c: Container, pair: IdxPair, r: Reading, add: AddRecord): Promise<void> {
  for await (const rec of readIdx(pair)) {
    if (abortSeen(s, r.signal)) break
    if (rec.index === 0) r.prog.total += rec.count
    await add(`${c.path}#${rec.index}`, c.classNames?.[rec.label] ?? String(rec.label), rec.pixels, rec.width, rec.height, 1)
    r.prog.tick(++r.done)
  }
}

async function readCsvRecords(s: ImportState, c: Container, r: Reading, add: AddRecord): Promise<void> {
  for await (const rec of readCsv(c.path, (skip) => s.skipped.push(skip))) {
    if (abortSeen(s, r.signal)) break
    r.prog.total = Math.max(r.prog.total, r.done + 1)
    await add(`${c.path}#${rec.line}`, rec.label, rec.pixels, rec.width, rec.height, rec.channels)
    r.prog.tick(++r.done)
  }
}
