import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import type { RunCalibration } from '../../src/shared/calibration'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR } from './browser'
import { EvaluatePage } from './pages/journey'
import { apiClient, openProject, spills, wrappedButtons, writeClassesDataset } from './pages/fixes'

/**
 * Evaluate's calibration card on a trained CNN: the temperature fitted on validation when the
 * run finished (runs/<id>/calibration.json), the reliability diagram with a bar per non-empty
 * bin, the expected calibration error before and after it (the numbers the run stored, as the
 * validation split is what it was fitted on), the "unknown" thresholds, the before/after switch;
 * fitting its card at 1280x800 and 1024x700, screenshots in light and dark.
 */
const SHOTS = join(SCREENSHOT_DIR, 'calibration')
const missing = chromiumMissing()
const pct = (x: number) => `${(x * 100).toFixed(1)}%`

describe.skipIf(missing)('calibration: reliability diagram and ECE in Evaluate (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  let dir: string
  let calibration: RunCalibration
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-calibration-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    mkdirSync(SHOTS, { recursive: true })
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 24, 48)
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    api = apiClient(studio.port, studio.token)
    browser = await launchBrowser()
    dir = (await api<{ dir: string }>('projects.create', { name: 'Calibration' })).dir
    await api('datasets.import', { dir, source: join(root, 'shapes'), options: { size: 48, val: 0.3, seed: 3 } })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  it('the run is calibrated on its validation split when training finishes', async () => {
    await api('training.start', { dir, options: { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 4, batchSize: 8, augment: 'none' } })
    await expect.poll(async () => (await api<{ running: boolean }>('training.status', { dir })).running, { timeout: 240_000, interval: 250 }).toBe(false)
    const runs = await api<{ runId: string; status: string }[]>('training.runs', { dir })
    expect(runs[0]?.status).toBe('completed')
    calibration = JSON.parse(readFileSync(join(dir, 'runs', runs[0].runId, 'calibration.json'), 'utf8')) as RunCalibration
    expect(calibration.split).toBe('validation')
    expect(calibration.images).toBe(3 * Math.round(24 * 0.3))
    expect(calibration.temperature).toBeGreaterThan(0)
    expect(calibration.nllAfter).toBeLessThanOrEqual(calibration.nllBefore)
  }, 300_000)

  async function shoot(page: Page, name: string): Promise<void> {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      // Buttons fade their background for 0.12 s: shoot after the new scheme has settled.
      await page.waitForTimeout(200)
      await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`) })
    }
    await page.emulateMedia({ colorScheme: 'light' })
  }

  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 1024, height: 700 },
  ]) {
    it(`shows the reliability diagram, ECE before/after and the unknown thresholds at ${viewport.width}x${viewport.height}`, async () => {
      const { context, page, errors } = await newPage(browser, 'light', viewport)
      const size = `${viewport.width}x${viewport.height}`
      try {
        await openProject(page, studio.url, dir, 'evaluate')
        await new EvaluatePage(page).evaluate('validation')
        const card = page.getByTestId('calibration')
        await card.scrollIntoViewIfNeeded()
        expect(await card.getByTestId('ece-before').textContent()).toBe(pct(calibration.eceBefore))
        expect(await card.getByTestId('ece-after').textContent()).toBe(pct(calibration.eceAfter))
        await expect.poll(() => card.textContent()).toContain(`T = ${calibration.temperature.toFixed(2)}`)

        const diagram = card.getByTestId('reliability-diagram')
        expect(await diagram.getAttribute('aria-label')).toBe(`Reliability diagram (after temperature scaling) on the validation split: expected calibration error ${pct(calibration.eceAfter)}`)
        const bars = await diagram.getByTestId('reliability-bar').count()
        expect(bars).toBeGreaterThan(0)
        const counts = (await diagram.locator('.count-label').allTextContents()).map(Number)
        expect(counts.reduce((a, b) => a + b, 0)).toBe(calibration.images)
        const box = (await diagram.boundingBox())!
        expect(box.height).toBeGreaterThan(150)

        const thresholds = card.getByTestId('unknown-thresholds').getByRole('listitem')
        expect(await thresholds.count()).toBe(3)
        expect(await thresholds.first().textContent()).toMatch(/^90% precision: (threshold \d\.\d{3}: [\d.]+% of the images get a label \([\d.]+% of them right\), [\d.]+% are “unknown”|no threshold reaches it on validation)$/)

        expect(await spills(card)).toEqual([])
        expect(await wrappedButtons(card)).toEqual([])
        // What the user sees: the card's top at the top of the view; where the card is taller
        // than the view, its end (the thresholds) scrolled into view too.
        await card.evaluate((el) => el.scrollIntoView({ block: 'start' }))
        await shoot(page, `evaluate-${size}`)
        if ((await card.boundingBox())!.height > viewport.height) {
          await thresholds.last().evaluate((el) => el.scrollIntoView({ block: 'end' }))
          await shoot(page, `evaluate-${size}-end`)
        }

        // The raw probabilities' curve on demand: the diagram and its label follow.
        await card.getByRole('button', { name: 'Before', exact: true }).click()
        expect(await card.getByRole('button', { name: 'Before', exact: true }).getAttribute('aria-pressed')).toBe('true')
        expect(await diagram.getAttribute('aria-label')).toBe(`Reliability diagram (before temperature scaling) on the validation split: expected calibration error ${pct(calibration.eceBefore)}`)
      } finally {
        await context.close()
      }
      expect(errors).toEqual([])
    }, 180_000)
  }

  it('evaluates with the raw probabilities when calibration is switched off (the loss changes, the accuracy does not)', async () => {
    const { context, page, errors } = await newPage(browser, 'light')
    try {
      await openProject(page, studio.url, dir, 'evaluate')
      await new EvaluatePage(page).evaluate('validation')
      const accuracy = await page.getByTestId('accuracy').textContent()
      const lossTile = page.locator('.tile', { hasText: 'Loss' }).locator('strong')
      const calibratedLoss = await lossTile.textContent()
      const toggle = page.getByTestId('calibrated-toggle')
      expect(await toggle.isChecked()).toBe(true)
      await toggle.uncheck()
      const raw = await api<{ loss: number; accuracy: number }>('evaluation.evaluate', { dir, options: { split: 'validation', calibrated: false } })
      await expect.poll(() => lossTile.textContent(), { timeout: 60_000 }).toBe(String(Number(raw.loss.toFixed(4))))
      expect(await lossTile.textContent()).not.toBe(calibratedLoss)
      expect(await page.getByTestId('accuracy').textContent()).toBe(accuracy)
      expect(await page.getByTestId('calibrated-toggle').isChecked()).toBe(false)
    } finally {
      await context.close()
    }
    expect(errors).toEqual([])
  }, 180_000)
})
