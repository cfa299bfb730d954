import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The browser studio's UI (the renderer built by Vite into out/web) on demand: `serve`, `npm
 * start` and the e2e tests build it when it is missing or older than its sources, so the README's
 * commands work in any order from a fresh clone.
 */

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** What the web build reads: a change to any of them makes out/web stale. */
const INPUTS = ['src/renderer', 'src/shared', 'vite.web.config.ts', 'package.json']

function newest(path: string): { time: number; file: string } {
  const st = statSync(path, { throwIfNoEntry: false })
  if (!st) return { time: 0, file: path }
  if (!st.isDirectory()) return { time: st.mtimeMs, file: path }
  let best = { time: 0, file: path }
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue
    const n = newest(join(path, e.name))
    if (n.time > best.time) best = n
  }
  return best
}

export interface WebUiState {
  state: 'missing' | 'stale' | 'fresh'
  /** For 'stale': the newest source file, newer than the build. */
  changed?: string
}

/** Whether out/web is there and newer than every source it is built from. */
export function webUiState(root = REPO_ROOT, outDir = join(root, 'out/web')): WebUiState {
  const index = statSync(join(outDir, 'index.html'), { throwIfNoEntry: false })
  if (!index) return { state: 'missing' }
  // An install without the renderer's sources (a packaged copy) serves what it has.
  if (!existsSync(join(root, 'src/renderer'))) return { state: 'fresh' }
  let latest = { time: 0, file: '' }
  for (const input of INPUTS) {
    const n = newest(join(root, input))
    if (n.time > latest.time) latest = n
  }
  return latest.time > index.mtimeMs ? { state: 'stale', changed: latest.file } : { state: 'fresh' }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Builds out/web when it is missing or stale; returns what it did. `log` gets one line before a
 * build starts. Concurrent callers (several test files, two `serve`s) wait for one build: a lock
 * folder next to out/web; the build goes to a temporary folder swapped in when complete, so a
 * running studio never serves half a build. Throws when the build fails, with Vite's output.
 */
export function ensureWebUi(opts: { root?: string; outDir?: string; log?: (line: string) => void } = {}): 'built' | 'fresh' {
  const root = opts.root ?? REPO_ROOT
  const outDir = opts.outDir ?? join(root, 'out/web')
  if (webUiState(root, outDir).state === 'fresh') return 'fresh'
  mkdirSync(join(outDir, '..'), { recursive: true })
  const lock = `${outDir}.building`
  const deadline = Date.now() + 300_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // Someone else is building: wait for it (a lock older than 5 minutes is left from a crash).
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
      if (age > 300_000 || Date.now() > deadline) rmSync(lock, { recursive: true, force: true })
      else sleep(200)
    }
  }
  try {
    const now = webUiState(root, outDir)
    if (now.state === 'fresh') return 'fresh'
    opts.log?.(now.state === 'missing' ? 'Building the studio UI (first start; a few seconds)…' : `Rebuilding the studio UI (${now.changed?.slice(root.length) ?? 'its sources'} changed; a few seconds)…`)
    const vitePkg = join(root, 'node_modules/vite/package.json')
    if (!existsSync(vitePkg)) throw new Error(`The studio UI is not built (${join(outDir, 'index.html')} is missing) and Vite is not installed to build it. Run npm install, then start again.`)
    const viteBin = join(root, 'node_modules/vite', (JSON.parse(readFileSync(vitePkg, 'utf8')) as { bin: { vite: string } }).bin.vite)
    const tmp = `${outDir}.tmp-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    const r = spawnSync(process.execPath, [viteBin, 'build', '--config', join(root, 'vite.web.config.ts'), '--outDir', tmp, '--emptyOutDir', '--logLevel', 'error'], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    if (r.status !== 0 || !existsSync(join(tmp, 'index.html'))) {
      rmSync(tmp, { recursive: true, force: true })
      throw new Error(`Building the studio UI failed (vite build --config vite.web.config.ts):\n${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`)
    }
    rmSync(outDir, { recursive: true, force: true })
    renameSync(tmp, outDir)
    return 'built'
  } finally {
    rmSync(lock, { recursive: true, force: true })
  }
}
