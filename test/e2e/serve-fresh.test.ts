import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from './browser'

/**
 * The README's commands from a fresh clone, in any order: `classifier-studio serve` and
 * `npm start` (browser fallback) build the studio UI themselves when it is missing or older than
 * its sources, saying so in one line, instead of answering 500 "The studio UI is not built".
 */

/** A copy of the working tree as a clone would have it (tracked and new files, no out/), sharing node_modules. */
function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-clone-'))
  const files = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\0').filter(Boolean)
  for (const f of files) {
    if (!existsSync(join(ROOT, f))) continue
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    copyFileSync(join(ROOT, f), join(dir, f))
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  return dir
}

interface Started {
  child: ChildProcess
  url: string
  stderr: string
}

/** Runs a command that ends up serving the studio; resolves with its URL once it prints one. */
function startServing(cwd: string, args: string[], env: Record<string, string>): Promise<Started> {
  // Its own process group, so stopping it stops what it started too (npm start runs serve as a child).
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No URL after 120 s.\nstdout: ${stdout}\nstderr: ${stderr}`)), 120_000)
    child.stdout!.on('data', (d) => {
      stdout += d
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\S*token=\S+)/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        resolve({ child, url: m[1].replace(/"[,]?$/, ''), stderr })
      }
    })
    child.stderr!.on('data', (d) => (stderr += d))
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before serving.\nstdout: ${stdout}\nstderr: ${stderr}`))
    })
  })
}

async function stopServing(s: Started | null): Promise<void> {
  if (!s || s.child.exitCode !== null) return
  const exited = new Promise((r) => s.child.once('exit', r))
  // Ctrl+C in a terminal: SIGINT to the whole process group.
  process.kill(-s.child.pid!, 'SIGINT')
  await exited
}

describe('a fresh clone serves the studio UI without a manual build', () => {
  let clone: string
  let home: string
  let running: Started | null = null

  beforeAll(() => {
    clone = freshClone()
    home = mkdtempSync(join(tmpdir(), 'cs-clone-home-'))
  })

  afterAll(async () => {
    await stopServing(running)
    rmSync(clone, { recursive: true, force: true })
    rmSync(home, { recursive: true, force: true })
  })

  async function page(url: string): Promise<{ status: number; body: string }> {
    const r = await fetch(url)
    return { status: r.status, body: await r.text() }
  }

  it('`classifier-studio serve` builds the missing UI (one line), rebuilds it when its sources change, and not otherwise', async () => {
    expect(existsSync(join(clone, 'out/web/index.html'))).toBe(false)
    const env = { CLASSIFIER_STUDIO_HOME: home, CLASSIFIER_STUDIO_WORKSPACE: join(home, 'ws') }
    running = await startServing(clone, ['bin/classifier-studio.mjs', 'serve', '--port', '0'], env)
    expect(running.stderr).toMatch(/^Building the studio UI \(first start; a few seconds\)…$/m)
    let res = await page(running.url)
    expect(res.status).toBe(200)
    expect(res.body).toContain('<div id="app">')
    await stopServing(running)

    // A changed renderer file: rebuilt, and the message names it.
    const touched = join(clone, 'src/renderer/src/main.ts')
    const later = new Date(Date.now() + 5_000)
    utimesSync(touched, later, later)
    running = await startServing(clone, ['bin/classifier-studio.mjs', 'serve', '--port', '0', '--json'], env)
    expect(running.stderr).toMatch(/^Rebuilding the studio UI \(\/?src\/renderer\/src\/main\.ts changed; a few seconds\)…$/m)
    res = await page(running.url)
    expect(res.status).toBe(200)
    await stopServing(running)

    // Up to date: no build, no line.
    const after = new Date(Date.now() + 10_000)
    utimesSync(join(clone, 'out/web/index.html'), after, after)
    running = await startServing(clone, ['bin/classifier-studio.mjs', 'serve', '--port', '0'], env)
    expect(running.stderr).not.toMatch(/Building|Rebuilding/)
    await stopServing(running)
    running = null
  })

  it('`npm start` without Electron serves the same UI from a fresh clone', async () => {
    rmSync(join(clone, 'out'), { recursive: true, force: true })
    running = await startServing(clone, ['scripts/start.mjs', '--port', '0'], { CLASSIFIER_STUDIO_HOME: home, CLASSIFIER_STUDIO_WORKSPACE: join(home, 'ws'), CLASSIFIER_STUDIO_WEB: '1' })
    expect(running.stderr).toMatch(/^Building the studio UI/m)
    const res = await page(running.url)
    expect(res.status).toBe(200)
    expect(res.body).toContain('<div id="app">')
    await stopServing(running)
    running = null
  })
})
