#!/usr/bin/env node
// The CLI and its training worker compiled to JavaScript in out/node, so `classifier-studio`
// starts without compiling TypeScript. bin/classifier-studio.mjs builds it when it is missing or
// stale; `node scripts/build-node.mjs` builds it by hand.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
/** Output name → source; every output file lands in out/node itself (see sourceUrlPlugin). */
const ENTRIES = { main: 'src/cli/main.ts', 'train-worker': 'src/main/worker/train-worker.ts', 'parallel-worker': 'src/main/ml/training/parallel-worker.ts' }
/**
 * What the bundle is made from (not the renderer): a change to any of them makes it stale. npm
 * rewrites node_modules/.package-lock.json at every install: it stands for the bundled packages,
 * whose own files keep their publish times.
 */
export const INPUTS = ['src/cli', 'src/main', 'src/shared', 'package.json', 'scripts/build-node.mjs', 'node_modules/.package-lock.json']
/** Packages compiled into the bundle. */
export const BUNDLED = ['zod']
/** Chunks no build refers to any more are deleted once this old (a running CLI may still load them). */
const CHUNK_TTL_MS = 24 * 3600_000

/** The newest file under `path` (a stat walk, skipping dot-files). */
export function newest(path) {
  const st = statSync(path, { throwIfNoEntry: false })
  if (!st) return { time: 0, file: path }
  if (!st.isDirectory()) return { time: st.mtimeMs, file: path }
  let best = { time: 0, file: path }
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue
    const n = newest(join(path, e.name))
    if (n.time > best.time) best = n
  }
  return best
}

/** 'fresh' when out/node/main.js is newer than every input; 'stale' names the newest input. */
export function cliBuildState(root = ROOT, outDir = join(root, 'out/node')) {
  const main = statSync(join(outDir, 'main.js'), { throwIfNoEntry: false })
  if (!main) return { state: 'missing' }
  const latest = INPUTS.map((input) => newest(join(root, input))).reduce((a, b) => (b.time > a.time ? b : a))
  return latest.time >= main.mtimeMs ? { state: 'stale', changed: relative(root, latest.file) } : { state: 'fresh' }
}

/**
 * Bundled code keeps resolving files next to its sources (train.py, out/web, the wasm binaries):
 * in each module, `import.meta.url` becomes the URL of its .ts file, computed from the bundle's own
 * URL, so the bundle works wherever the clone is. All output files sit in one folder for that.
 */
function sourceUrlPlugin(outDir) {
  return {
    name: 'source-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
        const code = await readFile(path, 'utf8')
        if (!code.includes('import.meta.url')) return { loader: 'ts', contents: code }
        const rel = relative(outDir, path).split(sep).join('/')
        // On the first line, so the source map's lines stay right; `__meta.url` escapes the define below.
        const header = `const __meta = import.meta; const __sourceUrl = new URL(${JSON.stringify(rel)}, __meta.url).href; `
        return { loader: 'ts', contents: header + code }
      })
    },
  }
}

/** Moves a finished build into outDir: chunks first, the entries after, main.js last. */
function install(tmp, outDir) {
  mkdirSync(outDir, { recursive: true })
  const files = readdirSync(tmp)
  const rank = (f) => (f === 'main.js' ? 2 : f.replace(/\.js(\.map)?$/, '') in ENTRIES ? 1 : 0)
  for (const f of files.sort((a, b) => rank(a) - rank(b))) renameSync(join(tmp, f), join(outDir, f))
  for (const f of readdirSync(outDir)) {
    const age = Date.now() - (statSync(join(outDir, f), { throwIfNoEntry: false })?.mtimeMs ?? Date.now())
    if (age > CHUNK_TTL_MS && !files.includes(f)) rmSync(join(outDir, f), { force: true })
  }
}

/** Every dependency of package.json but the ones bundled, with their sub-paths. */
async function externalPackages(root) {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
  const names = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.devDependencies }).filter((n) => !BUNDLED.includes(n))
  return names.flatMap((n) => [n, `${n}/*`])
}

/**
 * Builds out/node; returns the source files it bundled. Each build goes to its own temporary
 * folder next to out/node and is then moved in file by file (renames, chunks before the entries
 * that import them), so two processes building at once, or a CLI still running from the previous
 * build, never see a half-written bundle.
 */
export async function buildCli(root = ROOT, outDir = join(root, 'out/node')) {
  const { build } = await import('esbuild')
  const started = new Date()
  const tmp = `${outDir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  try {
    const result = await build({
      absWorkingDir: root,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, src]) => [name, join(root, src)])),
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Packages stay in node_modules, except zod: bundled, it is one module instead of the ~60
      // ES modules Node would resolve and load at every start (a third of `--help`'s time).
      external: await externalPackages(root),
      sourcemap: true,
      metafile: true,
      logLevel: 'error',
      define: { 'import.meta.url': '__sourceUrl', CLI_BUNDLE_URL: 'import.meta.url' },
      plugins: [sourceUrlPlugin(tmp)],
    })
    // Stamped with the build's start: a source saved during the build makes it stale.
    utimesSync(join(tmp, 'main.js'), started, started)
    install(tmp, outDir)
    return Object.keys(result.metafile.inputs)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildCli()
