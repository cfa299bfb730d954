import { realpathSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

/**
 * A project's identity is its real path: a symlink, `..` segments, a relative path or another
 * letter case (on a case-insensitive file system) all name the same project, so every lock,
 * queue, opened-folder set and the recent list key projects by `projectKey(dir)`, and hand the
 * services `projectPath(dir)`.
 */

/** The real path of `dir` (symlinks resolved); a path that does not exist yet keeps its missing tail under its real parent. */
export function projectPath(dir: string): string {
  const abs = resolve(dir)
  const tail: string[] = []
  let head = abs
  for (;;) {
    const real = realpathOrNull(head)
    if (real !== null) return tail.length ? join(real, ...tail.reverse()) : real
    const parent = dirname(head)
    if (parent === head) return abs
    tail.push(basename(head))
    head = parent
  }
}

/**
 * The key that identifies the project at `dir`: its real path, with the letters of every
 * component that lives in a case-insensitive folder folded to lower case. Two spellings of one
 * project give one key; two different projects never share one.
 */
export function projectKey(dir: string): string {
  const real = projectPath(dir)
  const parts: string[] = []
  let head = real
  for (;;) {
    const parent = dirname(head)
    if (parent === head) break
    const name = basename(head)
    parts.push(caseInsensitive(parent, name) ? name.toLowerCase() : name)
    head = parent
  }
  return parts.length ? join(head, ...parts.reverse()) : head
}

function realpathOrNull(path: string): string | null {
  try {
    return realpathSync.native(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    // realpath(3) / GetFinalPathNameByHandle can fail where the JS walk works (some virtual drives).
    try {
      return realpathSync(path)
    } catch {
      return null
    }
  }
}

/** Per folder: whether names in it ignore case. Cheap (two stats, once per folder) and cached. */
const insensitiveFolders = new Map<string, boolean>()
const MAX_CACHED = 4096

/**
 * Whether `folder` looks `name` up ignoring case, found by stat-ing `name` with its letters'
 * case swapped: the same file (dev + inode) means the folder ignores case. Unknown (`name` has
 * no letters, or does not exist) counts as case-sensitive and is not cached.
 */
function caseInsensitive(folder: string, name: string): boolean {
  const known = insensitiveFolders.get(folder)
  if (known !== undefined) return known
  const swapped = swapCase(name)
  if (swapped === name) return false
  let result: boolean
  try {
    const a = statSync(join(folder, name), { bigint: true })
    const b = statSync(join(folder, swapped), { bigint: true, throwIfNoEntry: false })
    result = !!b && a.ino !== 0n && a.dev === b.dev && a.ino === b.ino
  } catch {
    return false
  }
  if (insensitiveFolders.size >= MAX_CACHED) insensitiveFolders.clear()
  insensitiveFolders.set(folder, result)
  return result
}

function swapCase(s: string): string {
  let out = ''
  for (const ch of s) {
    const up = ch.toUpperCase()
    out += up === ch ? ch.toLowerCase() : up
  }
  return out
}
