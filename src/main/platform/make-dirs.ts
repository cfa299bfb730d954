import { mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code

/**
 * `mkdir -p` for folders a user names. Node 20's recursive mkdir never settles under some
 * pseudo file systems (`/proc/<missing>/x`), which hung a request; creating each missing level
 * on its own always answers, with the errno of the level that failed.
 */
export async function makeDirs(dir: string): Promise<void> {
  const missing: string[] = []
  for (let p = resolve(dir); ; p = dirname(p)) {
    try {
      if ((await stat(p)).isDirectory()) break
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR', syscall: 'mkdir', path: p })
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') throw err
      missing.push(p)
      if (dirname(p) === p) break
    }
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p)
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw err
    }
  }
}
