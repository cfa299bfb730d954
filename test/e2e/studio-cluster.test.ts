import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import type { ModelCatalog } from '../../src/shared/contract'
import type { RunInfo } from '../../src/shared/training'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { apiClient, openProject, writeClassesDataset } from './pages/fixes'

// Issue 18 in the Train view: "Run on a cluster…" exports the form's training as a torchrun job
// (training.exportJob, the service `job export` uses) into <project>/exports/<name>-job and shows
// the command; the test runs it with 2 CPU workers (gloo), and "Import results" brings it back
// (training.importJob): Past runs shows the run with its origin, torchrun (2 workers, cpu).
// The run and import are skipped, saying why, only where python3 has no torch.
const SHOTS = join(SCREENSHOT_DIR, 'cluster')
const missing = chromiumMissing()

function findPython(): { python: string | null; reason: string } {
  const tried: string[] = []
  for (const p of [process.env.CLASSIFIER_STUDIO_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[]) {
    const r = spawnSync(p, ['-c', 'import torch, numpy, torch.distributed.run; print(torch.__version__, torch.distributed.is_gloo_available())'], { encoding: 'utf8' })
    if (r.status === 0 && /True/.test(r.stdout)) return { python: p, reason: r.stdout.trim() }
    tried.push(`${p}: ${(r.stderr || r.error?.message || r.stdout || '').trim().split('\n').pop()}`)
  }
  return { python: null, reason: `no python3 with torch (gloo) and numpy: ${tried.join('; ')}` }
}
const { python, reason } = missing ? { python: null, reason: '' } : findPython()
if (!missing && !python) console.log(`studio-cluster: running and importing the job skipped: ${reason}`)

/** torchrun on CPU with 2 workers; --redirects/--tee: Debian's torch 1.13 on Python 3.11 crashes on their default. */
function torchrun(job: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python!, ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', '--redirects=2', '--tee=2', 'train.py'], { cwd: job, env: { ...process.env, OMP_NUM_THREADS: '1' } })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code: code ?? -1, out })
    })
  })
}

describe.skipIf(missing)('Run on a cluster from the Train view (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  let dir = ''
  let jobDir = ''
  const prev = process.env.CLASSIFIER_STUDIO_HOME

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-cluster-e2e-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 8, 32)
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    api = apiClient(studio.port, studio.token)
    browser = await launchBrowser()
    dir = (await api<{ dir: string }>('projects.create', { name: 'Shapes' })).dir
    await api('datasets.import', { dir, source: join(root, 'shapes'), options: { size: 32, val: 0.25 } })
    // The small CNN preset, chosen as the Model view would: the Train form follows it (Custom CNN).
    const catalog = await api<ModelCatalog>('models.catalog', {})
    const preset = catalog.presets.find((p) => p.name === 'sign-mnist-cnn')!
    await api('models.choose', { dir, spec: { type: 'cnn', preset: preset.name, layers: preset.layers } })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prev === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prev
    rmSync(root, { recursive: true, force: true })
  })

  async function withPage(name: string, body: (page: Page) => Promise<void>): Promise<void> {
    const { context, page, errors } = await newPage(browser, 'light', { width: 1280, height: 800 })
    try {
      await body(page)
    } catch (err) {
      await page.screenshot({ path: join(SHOTS, `${name}-failure.png`), fullPage: true }).catch(() => undefined)
      throw Object.assign(err as Error, { message: `${(err as Error).message}\nPage errors: ${JSON.stringify(errors)}` })
    } finally {
      await context.close()
    }
    expect(errors).toEqual([])
  }

  it('exports the form’s training as a torchrun job and shows its folder and command; importing it unrun says why', async () => {
    await withPage('export', async (page) => {
      await openProject(page, studio.url, dir, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await expect.poll(() => page.getByLabel('Recipe').inputValue()).toBe('cnn')
      await page.getByLabel('Epochs', { exact: true }).fill('2')
      await page.getByLabel('Batch size').fill('4')
      await page.getByTestId('run-on-cluster').click()
      const panel = page.getByTestId('cluster')
      await panel.waitFor()
      const expected = join(dir, 'exports', 'shapes-job')
      expect(await page.getByLabel('Job folder to export to').getAttribute('placeholder')).toBe(expected)
      await page.getByTestId('export-job').click()
      const done = page.getByTestId('job-exported')
      await done.waitFor({ timeout: 60_000 })
      jobDir = (await page.getByTestId('job-dir').textContent())!.trim()
      expect(jobDir).toBe(expected)
      expect(await page.getByTestId('job-command').textContent()).toBe(`torchrun --standalone --nproc_per_node=auto ${join(expected, 'train.py')}`)
      expect(await done.textContent()).toContain('Job written: 18 training and 6 validation images, cnn, 2 epochs.')
      for (const f of ['job.json', 'train.py', 'README.md', 'model.json', 'weights-init.bin']) expect(existsSync(join(jobDir, f)), f).toBe(true)
      const job = JSON.parse(readFileSync(join(jobDir, 'job.json'), 'utf8')) as { options: Record<string, unknown>; labels: string[] }
      // The form's settings, as `job export --model sign-mnist-cnn --epochs 2 --batch 4` would write them.
      expect(job.options).toMatchObject({ recipe: 'cnn', model: 'sign-mnist-cnn', epochs: 2, batchSize: 4 })
      expect(job.labels).toEqual(['circle', 'square', 'triangle'])
      // The import field proposes the job just written.
      expect(await page.getByLabel('Finished job folder').inputValue()).toBe(jobDir)
      await panel.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'exported', 'cluster/')

      // Exported again to the same folder: the ownership rule's message and hint, in place.
      await page.getByTestId('export-job').click()
      const refused = panel.getByRole('alert').first()
      await refused.waitFor({ timeout: 30_000 })
      expect(await refused.textContent()).toContain(`Cannot export to ${expected}: the folder exists and is not empty`)
      expect(await refused.textContent()).toContain('Replace an earlier export')

      // Imported before it ran: refused, saying how to finish it.
      await page.getByTestId('import-job').click()
      const notRun = panel.getByRole('alert').filter({ hasText: 'has not finished' })
      await notRun.waitFor({ timeout: 30_000 })
      expect(await notRun.textContent()).toContain('Run it to the end first')
      await notRun.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'import-unfinished', 'cluster/')
    })
  }, 120_000)

  it.skipIf(!python)('the job run by torchrun with 2 CPU workers imports from the view; Past runs shows torchrun (2 workers, cpu)', async () => {
    expect(jobDir).not.toBe('')
    const r = await torchrun(jobDir)
    expect(r.code, r.out.slice(-3000)).toBe(0)
    await withPage('import', async (page) => {
      await openProject(page, studio.url, dir, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await page.getByTestId('run-on-cluster').click()
      await page.getByLabel('Finished job folder').fill(jobDir)
      await page.getByTestId('import-job').click()
      const imported = page.getByTestId('job-imported')
      await imported.waitFor({ timeout: 60_000 })
      expect(await imported.textContent()).toMatch(/Imported as run \S+: trained by torchrun on 2 workers \(cpu\), 2 epochs\./)
      const runs = await api<RunInfo[]>('training.runs', { dir })
      expect(runs).toHaveLength(1)
      expect(runs[0]).toMatchObject({ status: 'completed', epochsDone: 2, origin: { kind: 'torchrun', worldSize: 2, device: 'cpu' } })
      const row = page.getByRole('table', { name: 'Past runs' }).getByRole('row').filter({ hasText: runs[0].runId })
      await row.waitFor()
      expect(await row.getByTestId('run-origin').textContent()).toBe('torchrun (2 workers, cpu)')
      expect(await row.textContent()).toContain('2/2')
      // Its curves, as any run's.
      expect(await page.getByTestId('curves').getAttribute('data-epochs')).toBe('2')
      await imported.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'imported', 'cluster/')
      await row.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'past-runs', 'cluster/')
    })
  }, 120_000)
})
