import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { ProjectName } from '../../src/shared/contract'
import type { RunInfo } from '../../src/shared/training'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { ExamplesPage, ProjectsPage, StudioPage } from './pages/studio'
import { EvaluatePage, TrainPage } from './pages/journey'
import { apiClient, openProject, spills, inView, wrappedButtons, writeClassesDataset } from './pages/fixes'

const SHOTS = join(SCREENSHOT_DIR, 'fixes')
const FLOWERS = ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
/** Sign-language MNIST's 24 letters (no J, no Z). */
const LETTERS = 'ABCDEFGHIKLMNOPQRSTUVWXY'.split('')
const SIZES = [
  { width: 1280, height: 800 },
  { width: 1024, height: 700 },
]

const missing = chromiumMissing()

describe.skipIf(missing)('the newcomer journey’s UI fixes (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME
  const dirs: Record<string, string> = {}

  /** Creates and imports a project through the studio's API (as the Data view would). */
  async function project(name: string, source: string, options: Record<string, unknown>): Promise<string> {
    const p = await api<{ dir: string }>('projects.create', { name })
    await api('datasets.import', { dir: p.dir, source, options })
    return p.dir
  }

  /** Trains through the API and waits for the background job to end. */
  async function trainAndWait(dir: string, options: Record<string, unknown>): Promise<void> {
    await api('training.start', { dir, options })
    await expect.poll(async () => (await api<{ running: boolean }>('training.status', { dir })).running, { timeout: 240_000, interval: 250 }).toBe(false)
  }

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-fixes-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 24)
    await writeClassesDataset(join(root, 'flowers'), FLOWERS, 8)
    await writeClassesDataset(join(root, 'letters'), LETTERS, 6)
    await writeClassesDataset(join(root, 'big'), ['circle', 'square', 'triangle'], 120, 128)
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    api = apiClient(studio.port, studio.token)
    browser = await launchBrowser()
  }, 240_000)

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  /** Runs a test body with a page; on failure saves what the page showed. */
  async function withPage(name: string, body: (page: Page) => Promise<void>, viewport = SIZES[0]): Promise<void> {
    const { context, page, errors } = await newPage(browser, 'light', viewport)
    try {
      await body(page)
    } catch (err) {
      await page.screenshot({ path: join(SHOTS, `${name}-failure.png`), fullPage: true }).catch(() => undefined)
      throw Object.assign(err as Error, { message: `${(err as Error).message}\nPage errors: ${JSON.stringify(errors)}\nSee ${join(SHOTS, `${name}-failure.png`)}` })
    } finally {
      await context.close()
    }
    expect(errors).toEqual([])
  }

  const stopButton = (page: Page) => page.getByRole('main').getByRole('button', { name: /^Stop/ })

  it('Stop: absent while idle; during a run it stops it once, and works again in the next run; the reload stays on #/train with the run’s real settings, curves and planned epochs', async () => {
    dirs.shapes = await project('Shapes', join(root, 'shapes'), { size: 96, val: 0.25 })
    await withPage('stop-reload', async (page) => {
      const train = new TrainPage(page)
      await openProject(page, studio.url, dirs.shapes, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      // Idle, on a project that is not an example: Start, and no Stop at all.
      await page.getByRole('button', { name: 'Start training' }).waitFor()
      expect(await stopButton(page).count()).toBe(0)
      await screenshotBoth(page, 'train-idle', 'fixes/')

      // A long run with settings that differ from every default (augmented: the base runs each batch).
      await page.getByLabel('Augmentation').fill('flip')
      await page.getByRole('checkbox', { name: 'Early stopping' }).uncheck()
      await train.start({ epochs: 300, batch: 8, lr: 0.005 })
      await expect.poll(() => stopButton(page).isEnabled(), { timeout: 60_000 }).toBe(true)
      expect(await stopButton(page).textContent()).toBe('Stop')
      await expect.poll(() => train.epochsDrawn(), { timeout: 180_000, interval: 100 }).toBeGreaterThanOrEqual(2)
      // Never "0s" while work remains.
      await expect.poll(() => page.getByTestId('eta').textContent()).toMatch(/^(\d+h )?(\d+m )?\d+s$/)
      expect(await page.getByTestId('eta').textContent()).not.toBe('0s')
      await screenshotBoth(page, 'train-running', 'fixes/')

      // Reload mid-training: still on Train (the URL says so), the form shows the running run's settings.
      expect(new URL(page.url()).hash).toBe('#/train')
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await expect.poll(() => page.getByTestId('epoch').textContent(), { timeout: 30_000 }).toMatch(/^\d+\/300$/)
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('300')
      expect(await page.getByLabel('Batch size').inputValue()).toBe('8')
      expect(await page.getByLabel('Learning rate').inputValue()).toBe('0.005')
      expect(await page.getByLabel('Augmentation').inputValue()).toBe('flip')
      expect(await page.getByRole('checkbox', { name: 'Early stopping' }).isChecked()).toBe(false)
      await expect.poll(() => train.epochsDrawn(), { timeout: 30_000 }).toBeGreaterThanOrEqual(2)
      expect(await stopButton(page).isEnabled()).toBe(true)
      // The loss axis reads like numbers people write (no 1.7000000000000002).
      const ticks = (await page.getByRole('img', { name: 'Loss chart' }).getAttribute('data-y-ticks')) ?? ''
      expect(ticks.split('|').filter(Boolean).length).toBeGreaterThan(1)
      for (const t of ticks.split('|').filter(Boolean)) expect(t).toMatch(/^-?\d+(\.\d{1,4})?$/)
      await screenshotBoth(page, 'train-after-reload', 'fixes/')

      // Stop: says it is stopping, then the run ends as stopped (not failed) and Stop is gone.
      // The run may end within one short batch, so record the "Stopping" text as it appears.
      await page.evaluate(() => {
        // Runs in the page: DOM types are not in this file's lib, so reach them through globalThis.
        const g = globalThis as any
        g.sawStopping = false
        const seen = () => (g.sawStopping ||= /Stopping after this batch/.test(g.document.querySelector('main')?.textContent ?? ''))
        new g.MutationObserver(seen).observe(g.document.body, { subtree: true, childList: true, characterData: true })
      })
      await stopButton(page).click()
      await expect.poll(() => page.evaluate(() => (globalThis as any).sawStopping as boolean)).toBe(true)
      await page.getByRole('status').filter({ hasText: 'Stopped. You can resume this run.' }).waitFor({ timeout: 60_000 })
      expect(await stopButton(page).count()).toBe(0)
      const runs = await api<RunInfo[]>('training.runs', { dir: dirs.shapes })
      expect(runs.map((r) => r.status)).toEqual(['stopped'])
      await train.pastRuns().getByRole('row').filter({ hasText: runs[0].runId }).getByText('stopped', { exact: true }).waitFor()
      await screenshotBoth(page, 'train-stopped', 'fixes/')

      // The next run: Stop is a working Stop again (no stale "Stopping…").
      await page.getByRole('button', { name: 'Start training' }).click()
      await expect.poll(() => stopButton(page).isEnabled(), { timeout: 60_000 }).toBe(true)
      expect(await stopButton(page).textContent()).toBe('Stop')
      await stopButton(page).click()
      await expect.poll(() => stopButton(page).count(), { timeout: 120_000 }).toBe(0)
      await page.getByRole('button', { name: 'Start training' }).waitFor()
      await expect.poll(async () => (await api<RunInfo[]>('training.runs', { dir: dirs.shapes })).map((r) => r.status).sort()).toEqual(['stopped', 'stopped'])
    })
  }, 480_000)

  it('feature extraction reads “Computing base features: n/N images” with its own progress, never “Epoch 0/…”', async () => {
    dirs.big = await project('Big shapes', join(root, 'big'), { size: 224, val: 0.2 })
    await withPage('features', async (page) => {
      const train = new TrainPage(page)
      await openProject(page, studio.url, dirs.big, 'train')
      await page.getByRole('button', { name: 'Start training' }).waitFor()
      await train.start({ epochs: 2 })
      const features = page.getByTestId('features-progress')
      await features.waitFor({ timeout: 60_000 })
      expect(await features.textContent()).toMatch(/Computing base features: \d+\/360 images/)
      expect(Number(await page.getByRole('progressbar', { name: 'Base features progress' }).getAttribute('aria-valuenow'))).toBeGreaterThanOrEqual(0)
      expect(await page.getByTestId('epoch').textContent()).not.toMatch(/^0\//)
      await screenshotBoth(page, 'train-features', 'fixes/')
      await train.finished().waitFor({ timeout: 240_000 })
      expect(await features.count()).toBe(0)
    })
  }, 480_000)

  it('the confusion matrix fits its card for 5 and 24 classes at 1280x800 and 1024x700; a cell brings its images into view; the report has 2 decimals; the split does not leak', async () => {
    dirs.flowers = await project('Flowers', join(root, 'flowers'), { size: 96, val: 0.5 })
    dirs.letters = await project('Letters', join(root, 'letters'), { size: 96, val: 0.5 })
    for (const d of [dirs.flowers, dirs.letters]) await trainAndWait(d, { recipe: 'transfer', base: 'mobilenetv2', epochs: 1, augment: 'none' })
    for (const size of SIZES) {
      await withPage(`matrix-${size.width}`, async (page) => {
        for (const [name, labels] of [['flowers', FLOWERS], ['letters', LETTERS]] as const) {
          await openProject(page, studio.url, dirs[name], 'evaluate')
          const ev = new EvaluatePage(page)
          await page.getByRole('heading', { level: 1, name: 'Evaluate' }).waitFor()
          // A new project starts on the validation split, whatever the last one used.
          expect(await page.getByLabel('Split to evaluate').inputValue()).toBe('validation')
          await ev.evaluate('validation')
          const cells = await ev.cells()
          expect(cells.length).toBe(labels.length ** 2)
          const card = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Confusion matrix' }) })
          expect(await spills(card)).toEqual([])
          // Every column header and the last column's cells are inside the card.
          const cardBox = (await card.boundingBox())!
          const lastCell = (await ev.cell(labels[labels.length - 1], labels[labels.length - 1]).boundingBox())!
          expect(lastCell.x + lastCell.width).toBeLessThanOrEqual(cardBox.x + cardBox.width)
          expect(await page.getByRole('grid').getByRole('columnheader').count()).toBe(labels.length + 1)
          expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.width)
          await screenshotBoth(page, `evaluate-${name}-${size.width}`, 'fixes/')

          // Many classes: small cells, the details on hover.
          const first = ev.cell(labels[0], labels[0])
          if (labels.length > 12) {
            await first.hover()
            await expect.poll(() => page.getByTestId('heatmap-detail').textContent()).toMatch(new RegExp(`^True ${labels[0]}, predicted ${labels[0]}: \\d+ images`))
          }
          // A cell opens its images, scrolled into view.
          await first.click()
          const gallery = page.getByTestId('cell-gallery')
          await gallery.waitFor()
          await expect.poll(() => inView(gallery), { timeout: 5_000 }).toBe(true)
          await screenshotBoth(page, `evaluate-${name}-${size.width}-cell`, 'fixes/')

          // scikit-learn's text report: two decimals everywhere.
          const report = page.getByRole('table', { name: 'Classification report' })
          const values = await report.locator('tbody td.num').evaluateAll((tds) => tds.map((td: any, i: number) => ((i + 1) % 4 === 0 ? null : (td.textContent ?? '').trim())))
          const numbers = values.filter((v): v is string => !!v)
          expect(numbers.length).toBeGreaterThan(labels.length * 3)
          for (const v of numbers) expect(v).toMatch(/^\d\.\d\d$/)
          // Leave the test split picked: the next project must not inherit it.
          await page.getByLabel('Split to evaluate').selectOption('test')
        }
      }, size)
    }
  }, 480_000)

  it('example cards pre-fill a name project creation accepts; a bad name or a failed creation is shown at the form', async () => {
    await withPage('examples', async (page) => {
      await page.goto(studio.url + '#/projects')
      const examples = new ExamplesPage(page)
      await examples.cards().first().waitFor()
      const titles = await examples.cards().locator('strong').allTextContents()
      expect(titles.some((t) => t.includes(':'))).toBe(true)
      for (const title of titles) {
        await examples.pick(title)
        const name = await page.getByLabel('Example project name').inputValue()
        expect(ProjectName.safeParse(name).success, `${title} → ${name}`).toBe(true)
      }
      // A name with a colon is flagged at the field, and the button waits for a valid one.
      await page.getByLabel('Example project name').fill('Cats: take 2')
      const problem = page.locator('#example-name-problem')
      await problem.waitFor()
      expect(await problem.textContent()).toMatch(/colons/)
      await expect.poll(() => inView(problem), { timeout: 5_000 }).toBe(true)
      expect(await page.getByRole('button', { name: 'Create example project' }).isDisabled()).toBe(true)
      await screenshotBoth(page, 'example-bad-name', 'fixes/')
      // A creation that fails (no such local copy): its error is on screen, not below the fold.
      await examples.create('Example from nowhere', join(root, 'no-such-folder'))
      const error = page.getByRole('main').getByRole('alert').filter({ hasText: /./ }).last()
      await error.waitFor({ timeout: 60_000 })
      await expect.poll(() => inView(error), { timeout: 5_000 }).toBe(true)
      await screenshotBoth(page, 'example-error', 'fixes/')
    })
  }, 480_000)

  it('at 1024x700 nothing spills: the settings card, the past runs, the recent list', async () => {
    await withPage('layout-1024', async (page) => {
      const shell = new StudioPage(page)
      await openProject(page, studio.url, dirs.shapes, 'train')
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      const settings = page.getByRole('form', { name: 'Training settings' })
      await settings.waitFor()
      expect(await spills(settings)).toEqual([])
      const past = new TrainPage(page).pastRuns()
      await past.getByRole('row').nth(1).waitFor()
      expect(await spills(page.locator('.card').filter({ has: past }))).toEqual([])
      await screenshotBoth(page, 'train-1024', 'fixes/')
      await past.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'train-1024-runs', 'fixes/')
      await shell.go('Projects')
      const recent = new ProjectsPage(page).recentTable()
      await recent.getByRole('row').nth(1).waitFor()
      expect(await wrappedButtons(recent)).toEqual([])
      expect(await spills(page.locator('.card').filter({ has: recent }))).toEqual([])
      await recent.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'projects-1024', 'fixes/')
      // Each view keeps its URL.
      await shell.go('Evaluate')
      expect(new URL(page.url()).hash).toBe('#/evaluate')
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Evaluate' }).waitFor()
    }, SIZES[1])
  }, 480_000)
})
