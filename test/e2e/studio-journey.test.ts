import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { predict as predictFiles } from '../../src/main/services/evaluation'
import { SHAPE_CLASSES, writeShapesDataset } from '../helpers/shapes'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, screenshotBoth, SCREENSHOT_DIR } from './browser'
import { ProjectsPage, StudioPage } from './pages/studio'
import { DataPage, EvaluatePage, ExportPage, loadedWidth, ModelPage, PredictPage, TrainPage } from './pages/journey'

const CLASSES = SHAPE_CLASSES
const PER_CLASS = 20
const SHOTS = join(SCREENSHOT_DIR, 'journey')

const missingChromium = chromiumMissing()

describe.skipIf(missingChromium)('the full journey in the web studio (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-journey-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    await writeShapesDataset(join(root, 'shapes'), PER_CLASS)
    rmSync(SHOTS, { recursive: true, force: true })
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  it('create → import (corrupt file reported) → train 2 epochs → evaluate + drill-down → predict a dropped file → export ONNX with parity → reload shows the run', async () => {
    const { context, page, errors } = await newPage(browser)
    const shell = new StudioPage(page)
    const shot = (name: string) => screenshotBoth(page, name, 'journey/')
    try {
      await journey()
    } catch (err) {
      // What the page showed when it failed, plus any page errors: the first thing to read.
      await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => undefined)
      throw Object.assign(err as Error, { message: `${(err as Error).message}\nPage errors: ${JSON.stringify(errors)}\nSee ${join(SHOTS, 'failure.png')}` })
    }
    expect(errors).toEqual([])
    await context.close()

    async function journey() {
    await page.goto(studio.url)

    // Create.
    await new ProjectsPage(page).create('Shapes')
    await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
    await shot('01-data-empty')

    // Import: 60 images, the corrupt one reported with its reason.
    const data = new DataPage(page)
    await data.importFolder(join(root, 'shapes'), { size: 96, val: 0.25 })
    await data.result().waitFor({ timeout: 60_000 })
    expect(await page.getByTestId('total-images').textContent()).toBe(String(CLASSES.length * PER_CLASS))
    const skippedRow = data.skippedTable().getByRole('row').filter({ hasText: 'broken.png' })
    await skippedRow.waitFor()
    expect((await skippedRow.textContent())!.replace('broken.png', '').trim().length).toBeGreaterThan(5)
    await expect.poll(() => data.thumbnails('circle').count()).toBeGreaterThan(5)
    // Thumbnails load lazily and are made on request: a busy machine (CI runs files in parallel) takes seconds.
    await data.thumbnails('circle').first().scrollIntoViewIfNeeded()
    await expect.poll(() => loadedWidth(data.thumbnails('circle').first()), { timeout: 30_000 }).toBeGreaterThan(0)
    await shot('02-data')

    // Model: one-click MobileNetV2 transfer.
    await shell.go('Model')
    const model = new ModelPage(page)
    await model.pick('MobileNetV2 transfer')
    await model.totalParams().waitFor({ timeout: 60_000 })
    await shot('03-model')
    await model.use()
    await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()

    // Train 2 epochs; the curves grow while it runs.
    const train = new TrainPage(page)
    await train.start({ epochs: 2, batch: 8, lr: 0.01 })
    await expect.poll(() => train.epochsDrawn(), { timeout: 150_000, interval: 100 }).toBeGreaterThanOrEqual(1)
    const runningShot = await page.getByRole('button', { name: /^Stop/ }).isVisible()
    if (runningShot) await shot('04-train-running')
    await train.finished().waitFor({ timeout: 150_000 })
    expect(await train.epochsDrawn()).toBe(2)
    expect((await train.backend().textContent())?.trim()).toMatch(/\w+/)
    expect((await train.threads().textContent())?.trim()).toMatch(/^· \d+ threads?$/)
    await train.pastRuns().getByRole('row').nth(1).waitFor()
    await shot('05-train')

    // Evaluate, then open a cell and see exactly its images.
    await shell.go('Evaluate')
    const ev = new EvaluatePage(page)
    await ev.evaluate('validation')
    const cells = await ev.cells()
    expect(cells.length).toBe(CLASSES.length ** 2)
    expect(cells.reduce((a, c) => a + c.count, 0)).toBe(Number(await page.getByTestId('eval-images').textContent()))
    // The fullest cell: on these easy shapes, normally a correct (diagonal) one.
    const pick = cells.reduce((a, c) => (c.count > a.count ? c : a))
    const count = pick.count
    await ev.cell(pick.trueLabel, pick.predLabel).click()
    await expect.poll(() => ev.gallery().count()).toBe(count)
    await expect.poll(() => loadedWidth(ev.gallery().first().locator('img'))).toBeGreaterThan(0)
    // Exclude one image (say it is mislabeled): dimmed with a badge, the result flagged stale.
    await ev.excludeToggle(0).click()
    await expect.poll(() => ev.excludeToggle(0).getAttribute('aria-pressed')).toBe('true')
    await ev.staleNotice().waitFor()
    await shot('06-evaluate')
    // Evaluating again recomputes without it (the service's cache key covers exclusions).
    const evaluated = Number(await page.getByTestId('eval-images').textContent())
    await ev.staleNotice().getByRole('button', { name: 'Evaluate again' }).click()
    await expect.poll(() => page.getByTestId('eval-images').textContent()).toBe(String(evaluated - 1))
    await expect.poll(() => ev.staleNotice().count()).toBe(0)

    // Predict a dropped file.
    await shell.go('Predict')
    const predict = new PredictPage(page)
    await shot('07-predict-empty')
    const file = join(root, 'shapes', 'triangle', 'triangle-3.png')
    await predict.drop([{ name: 'dropped-triangle.png', base64: readFileSync(file).toString('base64'), type: 'image/png' }])
    const row = predict.results().getByRole('row').filter({ hasText: 'dropped-triangle.png' })
    await row.waitFor({ timeout: 60_000 })
    // Column 3 is the prediction: one of the classes (a clean triangle should be a triangle).
    const uiLabel = (await row.getByRole('cell').nth(2).textContent())?.trim()
    expect(CLASSES as readonly string[]).toContain(uiLabel)
    // The CLI's prediction service on the same file on disk gives the same answer as the dropped bytes.
    const [cli] = await predictFiles(join(root, 'workspace', 'Shapes'), [file])
    expect(uiLabel).toBe(cli.label)
    expect((await row.getByRole('cell').nth(3).textContent())?.trim()).toBe(`${(cli.confidence * 100).toFixed(1)}%`)
    await shot('08-predict')

    // Export ONNX: the parity report passes, loudly.
    await shell.go('Export')
    const ex = new ExportPage(page)
    await ex.export('ONNX', join(root, 'export-onnx'))
    await ex.verdict().waitFor({ timeout: 150_000 })
    expect(await ex.verdict().textContent()).toContain('Parity check passed')
    expect(Number(await page.getByTestId('parity-images').textContent())).toBeGreaterThan(0)
    await shot('09-export')

    // Reload: the project reopens and the run's curves are back.
    await page.reload()
    await shell.go('Train')
    await expect.poll(() => train.epochsDrawn(), { timeout: 30_000 }).toBe(2)
    await shot('10-train-after-reload')
    // The smallest supported window: nothing spills sideways.
    await page.setViewportSize({ width: 1024, height: 700 })
    for (const view of ['Train', 'Evaluate', 'Data'] as const) {
      await shell.go(view)
      expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
    }
    // The Data view shows the image excluded in Evaluate (dimmed, badge, count); undo it there.
    await shell.go('Data')
    await data.classTab(pick.trueLabel).click()
    await data.excludedCount().waitFor()
    expect(await data.excludedToggles(pick.trueLabel).count()).toBe(1)
    await shot('11-data-1024x700')
    const before = Number((await data.classTab(pick.trueLabel).locator('.badge').textContent())?.replace(/\D/g, ''))
    await data.excludedToggles(pick.trueLabel).click()
    await expect.poll(() => data.excludedCount().count()).toBe(0)
    await expect.poll(async () => Number((await data.classTab(pick.trueLabel).locator('.badge').textContent())?.replace(/\D/g, ''))).toBe(before + 1)
    await page.setViewportSize({ width: 1280, height: 800 })
    await shell.go('Projects')
    await shot('00-projects')
    }
  })
})
