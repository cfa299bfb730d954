import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { buildMobileNetV2 } from '../../src/main/ml/models'
import { writeKerasH5 } from '../../src/main/ml/export/h5'
import { autoSchedule } from '../../src/main/ml/training/recipes'
import type { RunInfo } from '../../src/shared/training'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { TrainPage } from './pages/journey'
import { apiClient, openProject, writeClassesDataset } from './pages/fixes'

// The one-click default from the Train view: a transfer run started with the form untouched
// runs the service's automatic schedule (epochs from the data, early stopping restoring the
// best epoch); the run says when it was still improving (Resume with more epochs) and that the
// built-in weights are partial; the official weights download in one click, with progress, from
// a local mirror of the Keras Applications folder, and the next run uses them. Offline, the
// download says so in plain words.
const SHOTS = join(SCREENSHOT_DIR, 'oneclick')
const FILE = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5'
const SMALL = { width: 1024, height: 700 }
const missing = chromiumMissing()

describe.skipIf(missing)('the one-click model in the Train view (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  let server: Server
  let mirror = ''
  let body: Buffer
  /** The mirror sends half the file, then waits for this (so the test sees the download under way). */
  let release: () => void = () => undefined
  let held: Promise<void> = Promise.resolve()
  const prev = { home: process.env.CLASSIFIER_STUDIO_HOME, url: process.env.CLASSIFIER_STUDIO_WEIGHTS_URL }
  let dir = ''

  const runs = () => api<RunInfo[]>('training.runs', { dir })
  const latest = async () => (await runs()).sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]
  const config = async (runId: string) => (await api<{ config: { baseWeights: string | null; options: Record<string, unknown> } }>('training.run', { dir, runId })).config

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-oneclick-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    // An official-format weights file (Keras h5, the layer names of keras.applications.MobileNetV2).
    await tf.setBackend('cpu')
    const model = buildMobileNetV2({ alpha: 1.0, inputSize: 96 })
    await writeKerasH5(model, join(root, FILE))
    model.dispose()
    body = readFileSync(join(root, FILE))
    server = createServer(async (req, res) => {
      if (req.url !== `/mobilenet_v2/${FILE}`) return void res.writeHead(404).end()
      res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' })
      // The first half in slices a little apart (the view's bar moves), then the rest once released.
      const half = Math.floor(body.length / 2)
      for (let i = 0; i < half; i += Math.ceil(half / 8)) {
        res.write(body.subarray(i, Math.min(half, i + Math.ceil(half / 8))))
        await new Promise((r) => setTimeout(r, 150))
      }
      await held
      res.end(body.subarray(half))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 16)
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    api = apiClient(studio.port, studio.token)
    browser = await launchBrowser()
  }, 240_000)

  afterAll(async () => {
    release()
    await browser?.close()
    await studio?.close()
    server?.close()
    for (const [k, v] of [['CLASSIFIER_STUDIO_HOME', prev.home], ['CLASSIFIER_STUDIO_WEIGHTS_URL', prev.url]] as const) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    rmSync(root, { recursive: true, force: true })
  })

  async function withPage(name: string, body: (page: Page) => Promise<void>, viewport = { width: 1280, height: 800 }): Promise<void> {
    const { context, page, errors } = await newPage(browser, 'light', viewport)
    try {
      await body(page)
    } catch (err) {
      await page.screenshot({ path: join(SHOTS, `${name}-failure.png`), fullPage: true }).catch(() => undefined)
      throw Object.assign(err as Error, { message: `${(err as Error).message}\nPage errors: ${JSON.stringify(errors)}` })
    } finally {
      await context.close()
    }
    // The offline download's failed request is the only console error allowed (the page shows it).
    expect(errors.filter((e) => !/weights|status of 404/.test(e))).toEqual([])
  }

  const finished = (page: Page) => page.getByRole('status').filter({ hasText: /Training finished|Finished early/ })

  it('Start with the form untouched runs the automatic schedule, shows the weights note; a run still improving resumes with more epochs in one click', async () => {
    const p = await api<{ dir: string }>('projects.create', { name: 'One click' })
    dir = p.dir
    await api('datasets.import', { dir, source: join(root, 'shapes'), options: { size: 96, val: 0.25 } })
    await withPage('schedule', async (page) => {
      await openProject(page, studio.url, dir, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      const epochsBox = page.getByLabel('Epochs', { exact: true })
      await expect.poll(() => epochsBox.getAttribute('placeholder')).toBe('automatic')
      expect(await epochsBox.inputValue()).toBe('')
      expect(await page.getByTestId('epochs-auto').textContent()).toBe('Epochs: automatic (from your data, early stopping on)')
      expect(await page.getByLabel('Early stopping patience (epochs)').getAttribute('placeholder')).toBe('auto')
      await screenshotBoth(page, 'form-default', 'oneclick/')

      await page.getByRole('button', { name: 'Start training' }).click()
      await finished(page).waitFor({ timeout: 300_000 })
      const run = await latest()
      const saved = (await config(run.runId)).options
      // The schedule the service chose from 36 training images at batch 32, as its run stores it.
      const train = 36
      const sched = autoSchedule(train, 32)
      expect(saved).toMatchObject({ recipe: 'transfer', autoEpochs: true, epochs: sched.epochs, earlyStop: { monitor: 'val_loss', patience: sched.patience, restoreBestWeights: true }, baseCut: 'block_16_project_BN' })
      expect(run.weightsNote).toMatch(/built-in MobileNetV2 weights/)
      // The form stays on the schedule for the next run.
      expect(await epochsBox.inputValue()).toBe('')
      const note = page.getByTestId('weights-note')
      await note.waitFor()
      expect(await note.textContent()).toContain('only partly ImageNet-trained')
      expect(await note.textContent()).toContain('one click, about 9 MB') // the real 1.0_224 no-top file is 9,406,464 bytes
      await note.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'auto-run-note', 'oneclick/')

      // A short run with a low learning rate ends while still improving: Resume with more epochs.
      await new TrainPage(page).start({ epochs: 2, lr: 1e-4 })
      await finished(page).waitFor({ timeout: 300_000 })
      const short = await latest()
      expect(short).toMatchObject({ epochsPlanned: 2, epochsDone: 2, stillImproving: true })
      expect((await config(short.runId)).options).toMatchObject({ autoEpochs: false, epochs: 2 })
      const hint = page.getByTestId('still-improving')
      await hint.waitFor()
      expect(await hint.textContent()).toContain('Still improving at the last epoch: train longer.')
      await hint.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'still-improving', 'oneclick/')
      await page.getByTestId('resume-more').click()
      await expect.poll(async () => (await runs()).find((r) => r.runId === short.runId)?.epochsDone, { timeout: 300_000, interval: 500 }).toBe(4)
      await finished(page).waitFor({ timeout: 60_000 })
      expect((await config(short.runId)).options).toMatchObject({ epochs: 4 })
      expect(await page.getByTestId('epoch').textContent()).toBe('4/4')
    })
  }, 900_000)

  it('offline, Download says the weights server cannot be reached', async () => {
    // Nothing listens on this port: no route to the mirror.
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = `http://127.0.0.1:${port}/`
    for (const viewport of [{ width: 1280, height: 800 }, SMALL]) {
      await withPage(`offline-${viewport.width}`, async (page) => {
        await openProject(page, studio.url, dir, 'train')
        const note = page.getByTestId('weights-note')
        await note.waitFor({ timeout: 60_000 })
        await page.getByTestId('download-weights').click()
        const alert = note.getByRole('alert')
        await alert.waitFor({ timeout: 60_000 })
        expect(await alert.textContent()).toContain(`Could not download the official MobileNetV2 weights: 127.0.0.1:${port} cannot be reached from this computer (ECONNREFUSED).`)
        expect(await alert.textContent()).toContain('Connect to the internet and press Download again')
        expect(await page.getByTestId('download-weights').isEnabled()).toBe(true)
        await note.scrollIntoViewIfNeeded()
        await screenshotBoth(page, `offline-${viewport.width}`, 'oneclick/')
        if (viewport === SMALL) {
          await page.getByRole('heading', { level: 1, name: 'Train' }).scrollIntoViewIfNeeded()
          await screenshotBoth(page, 'form-1024', 'oneclick/')
        }
      }, viewport)
    }
  }, 300_000)

  it('Download fetches the official weights with progress; the next one-click run uses them', async () => {
    process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = mirror
    held = new Promise<void>((r) => (release = r))
    await withPage('download', async (page) => {
      await openProject(page, studio.url, dir, 'train')
      const note = page.getByTestId('weights-note')
      await note.waitFor({ timeout: 60_000 })
      await page.getByTestId('download-weights').click()
      // Up to half the file arrives (progress is reported at most every 100 ms); the mirror holds the rest.
      const bar = page.getByRole('progressbar', { name: 'Weights download progress' })
      const seen = new Set<number>()
      await expect
        .poll(async () => {
          const v = Number(await bar.getAttribute('aria-valuenow'))
          seen.add(v)
          return v
        }, { timeout: 30_000, interval: 50 })
        .toBeGreaterThanOrEqual(30)
      expect(Math.max(...seen)).toBeLessThanOrEqual(50)
      expect(seen.size).toBeGreaterThan(1) // it moved
      const mb = (n: number) => (n / 1e6).toFixed(1)
      // The words and the bar say the same (read together).
      const [text, now] = await page.evaluate(() => {
        type El = { textContent: string | null; getAttribute(n: string): string | null } | null
        const doc = (globalThis as unknown as { document: { querySelector(s: string): El } }).document
        return [doc.querySelector('[data-testid="weights-progress"]')?.textContent ?? '', Number(doc.querySelector('[aria-label="Weights download progress"]')?.getAttribute('aria-valuenow'))] as const
      })
      const m = new RegExp(`^(\\d+\\.\\d) of ${mb(body.length).replace('.', '\\.')} MB$`).exec(text)
      expect(m, text).not.toBeNull()
      expect(Math.abs(Number(m![1]) * 1e6 - (now / 100) * body.length)).toBeLessThan(0.01 * body.length)
      expect(await page.getByTestId('download-weights').textContent()).toBe('Downloading…')
      await note.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'download-progress', 'oneclick/')
      release()
      const ready = page.getByTestId('weights-ready')
      await ready.waitFor({ timeout: 60_000 })
      expect(await ready.textContent()).toContain('The official ImageNet weights are downloaded.')
      expect(await ready.textContent()).toContain(`The next transfer run uses them (${FILE})`)
      expect(await note.count()).toBe(0)
      await screenshotBoth(page, 'download-done', 'oneclick/')

      // The next run from the untouched form (a reopened project's form is on the schedule) trains on them: no note, whole base.
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('')
      await page.getByRole('button', { name: 'Start training' }).click()
      await expect.poll(async () => (await runs()).length, { timeout: 60_000 }).toBe(3)
      await finished(page).waitFor({ timeout: 300_000 })
      const run = await latest()
      const c = await config(run.runId)
      expect(c.baseWeights).toBe(`keras:${FILE}`)
      expect(c.options).toMatchObject({ autoEpochs: true, baseCut: 'full' })
      expect(run.weightsNote).toBeNull()
      expect(await page.getByTestId('weights-ready').count()).toBe(0)
      expect(await page.getByTestId('weights-note').count()).toBe(0)
    })
    // The same view at 1024x700, on the run that used the official weights.
    await withPage('download-small', async (page) => {
      await openProject(page, studio.url, dir, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await finished(page).or(page.getByTestId('curves')).first().waitFor({ timeout: 60_000 })
      await screenshotBoth(page, 'official-run-1024', 'oneclick/')
    }, SMALL)
  }, 900_000)
})
