import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUNDLED, buildCli, cliBuildState, INPUTS } from '../../scripts/build-node.mjs'
import { REPO } from '../helpers/cli'
import { tempDir } from '../helpers/env'
import { writeShapesDataset } from '../helpers/shapes'

/**
 * `classifier-studio` runs the CLI compiled to JavaScript (out/node), never TypeScript through
 * tsx. Checked in a copy of the app whose node_modules lacks tsx (as after `npm install
 * --omit=dev`): the CLI and the training process it forks only work there when neither needs tsx.
 */

const tmp = tempDir('cs-compiled-')
const app = join(tmp.dir, 'app')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }

/** The app's files the CLI reads at run time, with their times (so a fresh bundle stays fresh). */
function copyAppWithoutTsx(): void {
  for (const p of ['bin', 'scripts/build-node.mjs', 'package.json', 'src/cli', 'src/main', 'src/shared', 'out/node'])
    cpSync(join(REPO, p), join(app, p), { recursive: true, preserveTimestamps: true })
  mkdirSync(join(app, 'node_modules'))
  for (const name of readdirSync(join(REPO, 'node_modules'))) if (name !== 'tsx' && name !== '.bin') symlinkSync(join(REPO, 'node_modules', name), join(app, 'node_modules', name))
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(app, 'bin/classifier-studio.mjs'), ...args], { cwd: tmp.dir, env: { ...process.env, NO_COLOR: '1', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

beforeAll(async () => {
  if (cliBuildState().state !== 'fresh') await buildCli()
  copyAppWithoutTsx()
})
afterAll(() => tmp.cleanup())

describe('the compiled CLI', () => {
  it('answers --help and a usage error with tsx not installed', async () => {
    const help = await cli(['--help'])
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toContain('Usage: classifier-studio <command>')
    const bad = await cli(['train', 'p', '--frobnicate'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("Unknown option '--frobnicate' for `train`")
  })

  it('starts without loading zod or any service: --help and usage errors read only the command table', () => {
    // The static import closure of main.js (the chunks Node loads before the first line runs).
    const dir = join(app, 'out/node')
    const seen = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/^(?:import|export)\s[^;]*?["']\.\/([\w.-]+\.js)["']/gm)) visit(m[1])
    }
    visit('main.js')
    const loaded = [...seen].map((f) => readFileSync(join(dir, f), 'utf8'))
    expect(seen.size).toBeGreaterThan(1)
    // zod is compiled into the bundle (one module, not ~60 from node_modules), and loaded lazily.
    expect(loaded.some((code) => /from ["']zod/.test(code))).toBe(false)
    expect(loaded.some((code) => code.includes('$ZodType'))).toBe(false)
    expect(loaded.some((code) => code.includes('// src/main/services/'))).toBe(false)
    expect(readdirSync(dir).some((f) => f.endsWith('.js') && readFileSync(join(dir, f), 'utf8').includes('$ZodType'))).toBe(true)
  })

  it('trains end to end (the training process and its training threads are compiled too) and exports a cluster job with its train.py', async () => {
    const project = join(tmp.dir, 'p')
    await writeShapesDataset(join(tmp.dir, 'data'), 6)
    expect((await cli(['new', project, '--json'])).code).toBe(0)
    expect((await cli(['import', project, join(tmp.dir, 'data'), '--size', '32', '--json'])).code).toBe(0)
    const train = await cli(['train', project, '--recipe', 'cnn', '--model', 'cats-dogs-cnn', '--epochs', '1', '--batch', '8', '--threads', '2', '--json'])
    expect(train.code, train.stderr).toBe(0)
    expect(JSON.parse(train.stdout).epochs).toHaveLength(1)
    // Its data-parallel training threads start from the bundle's compiled worker too.
    expect(train.stderr).toContain('Each batch of 8 is split across 2 threads')
    const job = await cli(['job', 'export', project, '--out', join(tmp.dir, 'job'), '--model', 'cats-dogs-cnn', '--epochs', '1', '--json'])
    expect(job.code, job.stderr).toBe(0)
    expect(readFileSync(join(tmp.dir, 'job/train.py'), 'utf8')).toBe(readFileSync(join(REPO, 'src/main/services/cluster/train.py'), 'utf8'))
  })

  it('is rebuilt before it runs when a source changed, and not otherwise', async () => {
    const main = join(app, 'src/cli/main.ts')
    writeFileSync(main, readFileSync(main, 'utf8').replace("'Usage: classifier-studio <command>", "'Usage (rebuilt): classifier-studio <command>"))
    const first = await cli(['--help'])
    expect(first.stderr).toMatch(/^Rebuilding the CLI \(src\/cli\/main\.ts changed\)…$/m)
    expect(first.stdout).toContain('Usage (rebuilt): classifier-studio')
    const again = await cli(['--help'])
    expect(again.stderr).toBe('')
    expect(again.stdout).toContain('Usage (rebuilt): classifier-studio')
  })

  it('bundles only sources its freshness check watches', async () => {
    const inputs = await buildCli(app, join(tmp.dir, 'other-out'))
    // A bundled package's files count through node_modules/.package-lock.json (rewritten by every npm install).
    const watched = (f: string) => INPUTS.some((i) => f === i || f.startsWith(i + '/')) || BUNDLED.some((p) => f.startsWith(`node_modules/${p}/`) || f.includes(`/node_modules/${p}/`)) // (through the copy's symlinks)
    expect(INPUTS).toContain('node_modules/.package-lock.json')
    expect(inputs.length).toBeGreaterThan(10)
    expect(inputs.filter((f) => !watched(f))).toEqual([])
  })
})

describe('cliBuildState', () => {
  const root = join(tmp.dir, 'state')
  const at = (path: string, seconds: number) => {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), '')
    const t = new Date(Date.UTC(2026, 0, 1, 0, 0, seconds))
    utimesSync(join(root, path), t, t)
  }

  it('is missing without a build, fresh when the build is newer than every input, stale naming the newest one', () => {
    for (const f of ['package.json', 'scripts/build-node.mjs', 'src/cli/main.ts', 'src/main/a/b.ts', 'src/shared/c.ts']) at(f, 1)
    expect(cliBuildState(root)).toEqual({ state: 'missing' })
    at('out/node/main.js', 10)
    expect(cliBuildState(root)).toEqual({ state: 'fresh' })
    at('src/renderer/src/App.vue', 20)
    expect(cliBuildState(root).state).toBe('fresh')
    at('src/main/a/b.ts', 20)
    expect(cliBuildState(root)).toEqual({ state: 'stale', changed: join('src', 'main', 'a', 'b.ts') })
  })
})
