import { readFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { DatasetWriteError } from './cache'
import { decodeImage, SkipError } from './decode'
import { abortSeen, activeHashes, contentHash, needsDecoding, Progress, type ImportControl, type ImportState } from './import-state'
import { scanFolder, type ScannedFile } from './scan'

/** Decodes a folder of images (one sub-folder per class) into the chunks, `concurrency` files at a time. */
export async function decodeFolder(s: ImportState, source: string, ctl: ImportControl): Promise<void> {
  const { signal } = ctl
  ctl.onProgress?.({ phase: 'scan', done: 0, total: 0, rate: 0, etaSeconds: null })
  const scan = await scanFolder(source, signal)
  s.skipped.push(...scan.skipped)
  const work = scan.files.filter((f) => needsDecoding(s, f.path, f, false))
  const before = activeHashes(s)
  const prog = new Progress(ctl.onProgress, 'decode', work.length)
  let next = 0
  let done = 0
  const worker = async () => {
    // A failed chunk write (a full disk) stops every worker: the import is undone.
    while (next < work.length && !s.writer.failed) {
      if (abortSeen(s, signal)) return
      const order = next++
      const decoded = await importFile(s, work[order], order, before)
      done++
      if (decoded) prog.tick(done)
    }
  }
  const workers = ctl.concurrency ?? Math.max(2, availableParallelism()) * 2
  // Every worker settles before the first failure is reported, so none writes after the undo.
  const ends = await Promise.allSettled(Array.from({ length: workers }, worker))
  const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected')
  if (failed) throw failed.reason
  prog.tick(done, true)
}

/**
 * One image file: kept as cached when only its time changed, skipped when unreadable or already
 * in the project (`before`: content hash -> source), else decoded into the chunks (or skipped with
 * the reason the decoder gives). True when it was decoded or the decoder refused it.
 */
async function importFile(s: ImportState, f: ScannedFile, order: number, before: Map<string, string>): Promise<boolean> {
  let buf: Buffer
  try {
    buf = await readFile(f.path)
  } catch (err) {
    s.skipped.push({ path: f.path, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` })
    return false
  }
  const hash = buf.length ? contentHash(buf) : ''
  const old = s.idx.files[f.path]
  if (old && old.ids.length === 1 && s.idx.items[old.ids[0]]?.hash === hash) {
    // Only the timestamp changed: keep the cached pixels.
    s.fileUpdates[f.path] = { size: f.size, mtimeMs: f.mtimeMs, orders: [], keepIds: old.ids }
    s.unchanged++
    return false
  }
  const dupOf = hash ? before.get(hash) : undefined
  if (dupOf) {
    s.skipped.push({ path: f.path, reason: `already in the project: same content as ${dupOf}` })
    return false
  }
  try {
    const d = await decodeImage(buf, s.settings, { maxPixels: s.opts.maxPixels, minSide: s.opts.minSide })
    const at = s.writer.append(d.data)
    s.newItems.push({ order, src: f.path, labelName: f.label, split: s.opts.split ?? f.split, chunk: at.chunk, slot: at.slot, hash, w: d.width, h: d.height })
    s.fileUpdates[f.path] = { size: f.size, mtimeMs: f.mtimeMs, orders: [order] }
    if (at.slot === s.writer.perChunk - 1) await s.writer.drain()
  } catch (err) {
    if (err instanceof DatasetWriteError) throw err
    if (err instanceof SkipError) s.skipped.push({ path: f.path, reason: err.message })
    else s.skipped.push({ path: f.path, reason: `cannot be imported (${(err as Error).message})` })
  }
  return true
}
