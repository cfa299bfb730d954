import type { Progress } from '../../../shared/contract'
import { AppError } from '../../../shared/errors'
import { pageOrigin } from '../lib/env'

/** One file of a dropped or chosen folder, with its path inside that folder ("cats/cat-1.jpg"). */
export interface FolderFile {
  file: File
  path: string
}

/** A dropped or chosen folder: its name and every (non-hidden) file in it. */
export interface PickedFolder {
  name: string
  files: FolderFile[]
  bytes: number
}

const hidden = (path: string) => path.split('/').some((p) => p.startsWith('.'))

function folder(name: string, files: FolderFile[]): PickedFolder {
  const kept = files.filter((f) => !hidden(f.path))
  return { name, files: kept, bytes: kept.reduce((a, f) => a + f.file.size, 0) }
}

/** The files of an `<input type=file webkitdirectory>` (webkitRelativePath = "<folder>/<path>"). */
export function chosenFolder(list: ArrayLike<File>): PickedFolder | null {
  const all: File[] = Array.from(list)
  if (all.length === 0) return null
  const rel = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name
  const name = rel(all[0]).split('/')[0] || 'folder'
  return folder(
    name,
    all.map((file) => ({ file, path: rel(file).split('/').slice(1).join('/') || file.name })),
  )
}

type Entry = { isFile: boolean; isDirectory: boolean; name: string; file?: (ok: (f: File) => void, fail: (e: unknown) => void) => void; createReader?: () => { readEntries(ok: (e: Entry[]) => void, fail: (e: unknown) => void): void } }

/** A DataTransfer as far as a drop is read here (typed structurally: this file also type-checks without the DOM library). */
interface DropItem {
  kind: string
  webkitGetAsEntry?: () => Entry | null
}
export interface DropLike {
  items?: ArrayLike<DropItem> | null
}

/** Every file below a dropped directory entry (readEntries answers in batches until empty). */
async function walk(entry: Entry, prefix: string, out: FolderFile[]): Promise<void> {
  if (entry.isFile && entry.file) {
    const file = await new Promise<File>((ok, fail) => entry.file!(ok, fail))
    out.push({ file, path: prefix + entry.name })
    return
  }
  if (!entry.isDirectory || !entry.createReader || entry.name.startsWith('.')) return
  const reader = entry.createReader()
  for (;;) {
    const batch = await new Promise<Entry[]>((ok, fail) => reader.readEntries(ok, fail))
    if (batch.length === 0) break
    for (const e of batch) await walk(e, `${prefix}${entry.name}/`, out)
  }
}

/**
 * What a drop holds, read from its DataTransfer (directory traversal through
 * webkitGetAsEntry): one dropped folder keeps its name; several dropped folders (cats/, dogs/)
 * become the class folders of one upload. Null when nothing usable was dropped.
 */
export async function droppedFolder(dt: DropLike): Promise<PickedFolder | null> {
  const items: DropItem[] = Array.from(dt.items ?? [])
  const entries = items
    .filter((i) => i.kind === 'file')
    .map((i) => i.webkitGetAsEntry?.() ?? null)
    .filter((e): e is Entry => !!e)
  if (entries.length === 0) return null
  const files: FolderFile[] = []
  if (entries.length === 1 && entries[0].isDirectory) {
    const [top] = entries
    await walk(top, '', files)
    return folder(top.name, files.map((f) => ({ file: f.file, path: f.path.slice(top.name.length + 1) })))
  }
  for (const e of entries) await walk(e, '', files)
  return folder('dropped', files)
}

async function post<T>(path: string, query: Record<string, string | number>, body?: Blob, signal?: AbortSignal): Promise<T> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))
  const res = await fetch(`${pageOrigin()}/upload/${path}?${qs}`, { method: 'POST', body, credentials: 'same-origin', signal })
  const answer = (await res.json().catch(() => ({}))) as { result?: T; error?: { code: string; message: string; hint?: string } }
  if (answer.error) throw new AppError(answer.error.code as never, answer.error.message, answer.error.hint)
  if (!res.ok) throw new AppError('INTERNAL', `The upload failed (HTTP ${res.status}).`, 'Try again; the server log has the details.')
  return answer.result as T
}

/**
 * Uploads a folder into a staging folder the studio owns on the server, keeping its relative
 * paths; resolves with the server path to import. Progress counts bytes; an abort (Cancel)
 * removes what was uploaded. `discardUpload` removes it once the import is over.
 */
export async function uploadFolder(dir: string, picked: PickedFolder, opts: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {}): Promise<{ id: string; source: string }> {
  const { signal, onProgress } = opts
  const started = await post<{ id: string; source: string }>('begin', { dir, name: picked.name, files: picked.files.length, bytes: picked.bytes }, undefined, signal)
  const t0 = Date.now()
  let sent = 0
  let files = 0
  let next = 0
  const report = () => {
    const secs = (Date.now() - t0) / 1000
    const rate = secs > 0.2 ? sent / secs : undefined
    onProgress?.({ phase: 'upload', done: sent, total: picked.bytes, rate, etaSeconds: rate ? (picked.bytes - sent) / rate : undefined, message: `Uploading ${picked.name}: ${files}/${picked.files.length} files` })
  }
  report()
  const worker = async () => {
    while (next < picked.files.length) {
      if (signal?.aborted) throw new AppError('CANCELLED', 'The upload was cancelled.')
      const f = picked.files[next++]
      await post('file', { dir, id: started.id, path: f.path }, f.file, signal)
      sent += f.file.size
      files++
      report()
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(4, picked.files.length) }, worker))
    if (signal?.aborted) throw new AppError('CANCELLED', 'The upload was cancelled.')
  } catch (err) {
    await discardUpload(dir, started.id)
    throw (err as Error).name === 'AbortError' ? new AppError('CANCELLED', 'The upload was cancelled.') : err
  }
  return started
}

/** Removes an upload's staging folder on the server (best effort). */
export async function discardUpload(dir: string, id: string): Promise<void> {
  await post('discard', { dir, id }).catch(() => undefined)
}
