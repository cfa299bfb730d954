import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, REPO, runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'

// Ctrl+C a one-click transfer run (MobileNetV2 with the offline weights, head on cached base
// features) in a terminal, then `train P --resume RUN` finishes it.
const tmp = tempDir('cs-cli-resume-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const project = join(tmp.dir, 'proj')
const EPOCHS = 20

/** Two classes of 96x96 PNGs: a bright band left or right on noise. */
async function writeImages(dir: string, perClass: number) {
  let seed = 3
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (const [ci, name] of ['left', 'right'].entries()) {
    mkdirSync(join(dir, name), { recursive: true })
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(96 * 96 * 3)
      for (let y = 0; y < 96; y++)
        for (let x = 0; x < 96; x++) {
          const on = ci === 0 ? x < 32 : x > 64
          for (let c = 0; c < 3; c++) px[(y * 96 + x) * 3 + c] = Math.round((on ? 210 : 40) + (rnd() - 0.5) * 50)
        }
      await sharp(px, { raw: { width: 96, height: 96, channels: 3 } }).png().toFile(join(dir, name, `${i}.png`))
    }
  }
}

/**
 * `train` in its own process group, as a shell runs it; once the first epoch is logged, SIGINT
 * goes to the whole group, as Ctrl+C in a terminal does (the training process gets it too).
 */
function trainAndCtrlC(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env }, detached: true })
    let stdout = ''
    let stderr = ''
    let sent = false
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => {
      stderr += d
      if (!sent && /^epoch 1:/m.test(stderr)) {
        sent = true
        process.kill(-child.pid!, 'SIGINT')
      }
    })
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 300_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

beforeAll(async () => {
  await writeImages(join(tmp.dir, 'images'), 10)
  expect((await runCli(['new', project, '--json'], env)).code).toBe(0)
  const r = await runCli(['import', project, join(tmp.dir, 'images'), '--size', '96', '--json'], env)
  expect(r.code, r.stderr).toBe(0)
})
afterAll(() => tmp.cleanup())

describe('CLI: Ctrl+C a transfer run, then --resume it', () => {
  it('stops after the current batch with the run resumable, and train P --resume RUN finishes it', async () => {
    const stop = await trainAndCtrlC(['train', project, '--epochs', String(EPOCHS), '--lr', '0.003', '--json'])
    expect(stop.code, stop.stderr).toBe(0)
    expect(stop.stderr).toMatch(/Stopping…/)
    expect(stop.stderr).not.toMatch(/crashed|killed by SIGINT/)
    const stopped = JSON.parse(stop.stdout) as { runId: string; recipe: string; stopped: boolean; epochs: { epoch: number }[] }
    expect(stopped).toMatchObject({ recipe: 'transfer', stopped: true })
    const done = stopped.epochs.length
    expect(done).toBeGreaterThanOrEqual(1)
    expect(done).toBeLessThan(EPOCHS)
    const runDir = join(project, 'runs', stopped.runId)
    expect(JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'))).toMatchObject({ status: 'stopped', epochsDone: done })

    // Other settings cannot be changed on a resume; the message says which may.
    const bad = await runCli(['train', project, '--resume', stopped.runId, '--lr', '0.1'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/only --epochs .* not --lr/)

    const r = await runCli(['train', project, '--resume', stopped.runId, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(new RegExp(`Run ${stopped.runId}: transfer, ${EPOCHS} epoch\\(s\\) .*resumed after epoch ${done}`))
    expect(r.stderr).toMatch(/Optimizer state restored/)
    const resumed = r.json() as { runId: string; stopped: boolean; epochs: { epoch: number }[] }
    expect(resumed.runId).toBe(stopped.runId)
    expect(resumed.stopped).toBe(false)
    expect(resumed.epochs.map((m) => m.epoch)).toEqual(Array.from({ length: EPOCHS }, (_, i) => i + 1))
    expect(resumed.epochs.slice(0, done)).toEqual(stopped.epochs)
    expect(JSON.parse(readFileSync(join(runDir, 'status.json'), 'utf8'))).toMatchObject({ status: 'completed', epochsDone: EPOCHS })
  })
})
