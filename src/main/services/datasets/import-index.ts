import type { SourceKind } from '../../../shared/datasets'
import type { Split } from '../../../shared/project'
import type { DatasetIndex } from './cache'
import type { ImportState } from './import-state'
import { naturalCompare } from './scan'
import { stratifiedSplit } from './split'

/**
 * Adds what an import decoded to its index copy: the new items in source order with their labels
 * and splits, the source files' records, the chunks, stale marks on replaced items, the skipped
 * files and the import's record. The chunks must be flushed first.
 */
export function extendIndex(s: ImportState, source: string, kind: SourceKind): void {
  const { idx, newItems } = s
  newItems.sort((a, b) => a.order - b.order)
  const labelOf = new Map(idx.classes.map((c, i) => [c, i]))
  for (const it of newItems) if (!labelOf.has(it.labelName)) labelOf.set(it.labelName, labelOf.size)
  const splits = newSplits(s, labelOf)
  // Old copies of changed files are kept on disk (ids stay valid) but marked stale.
  for (const p of s.toRedo) {
    const upd = s.fileUpdates[p]
    if (upd && !upd.keepIds) for (const id of idx.files[p].ids) idx.items[id].stale = true
  }
  const base = idx.items.length
  const orderToId = new Map<number, number>()
  newItems.forEach((it, k) => {
    orderToId.set(it.order, base + k)
    idx.items.push({ id: base + k, src: it.src, label: labelOf.get(it.labelName)!, split: splits[k], chunk: it.chunk, slot: it.slot, hash: it.hash, w: it.w, h: it.h })
  })
  for (const [p, u] of Object.entries(s.fileUpdates)) idx.files[p] = { size: u.size, mtimeMs: u.mtimeMs, ids: u.keepIds ?? u.orders.map((o) => orderToId.get(o)!).filter((x) => x !== undefined) }
  idx.chunks.push(...s.writer.done.sort((a, b) => (a.file < b.file ? -1 : 1)))
  sortClasses(idx, [...labelOf.keys()])
  s.skipped.sort((a, b) => naturalCompare(a.path, b.path))
  idx.lastSkipped = s.skipped
  idx.imports.push({ source, kind, at: new Date().toISOString(), added: newItems.length, skipped: s.skipped.length, seed: s.opts.seed })
  idx.settings = s.settings
}

/** Each new item's split: the source's (or the import's), else stratified by label. */
function newSplits(s: ImportState, labelOf: Map<string, number>): Split[] {
  const needSplit = s.newItems.map((it, i) => ({ it, i })).filter((x) => x.it.split === undefined)
  const assigned = stratifiedSplit(needSplit.map((x) => ({ label: labelOf.get(x.it.labelName)!, hash: x.it.hash, src: x.it.src })), s.opts.val, s.opts.test, s.opts.seed)
  const splits: Split[] = s.newItems.map((it) => it.split ?? 'train')
  needSplit.forEach((x, k) => (splits[x.i] = assigned[k]))
  return splits
}

/** Classes in natural order ("2" before "10"); labels remapped. */
function sortClasses(idx: DatasetIndex, classList: string[]): void {
  const sorted = [...classList].sort(naturalCompare)
  const remap = classList.map((c) => sorted.indexOf(c))
  idx.classes = sorted
  for (const it of idx.items) it.label = remap[it.label]
}
