import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import type { CompareResult } from '../../src/shared/compare'
import type { RunInfo } from '../../src/shared/training'
import { writeShapesDataset } from '../helpers/shapes'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { apiClient, openProject, spills } from './pages/fixes'

/**
 * The Compare view on two short CNN runs (one epoch, then four): opened at #/compare it picks
 * the two latest runs and compares them at once; both runs' metrics are the service's, the
 * changed grid holds every changed image and its filters their counts; it fits at 1280x800 and
 * 1024x700, screenshots in light and dark.
 */
const SHOTS = join(SCREENSHOT_DIR, 'compare')
const missing = chromiumMissing()
const pct = (x: number) => `${(x * 100).toFixed(1)}%`

describe.skipIf(missing)('compare: two runs side by side (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  let dir: string
  let expected: CompareResult
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  async function train(epochs: number): Promise<void> {
    await api('training.start', { dir, options: { recipe: 'cnn', model: 'cats-dogs-cnn', epochs, batchSize: 8, augment: 'none' } })
    await expect.poll(async () => (await api<{ running: boolean }>('training.status', { dir })).running, { timeout: 240_000, interval: 250 }).toBe(false)
  }

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-compare-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    mkdirSync(SHOTS, { recursive: true })
    await writeShapesDataset(join(root, 'shapes'), 20)
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    api = apiClient(studio.port, studio.token)
    browser = await launchBrowser()
    dir = (await api<{ dir: string }>('projects.create', { name: 'Compare' })).dir
    await api('datasets.import', { dir, source: join(root, 'shapes'), options: { size: 32, val: 0.5, seed: 3 } })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  async function withPage(viewport: { width: number; height: number }, body: (page: Page) => Promise<void>): Promise<void> {
    const { context, page, errors } = await newPage(browser, 'light', viewport)
    const name = `${viewport.width}x${viewport.height}`
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

  it('trains two short runs whose predictions differ', async () => {
    await train(1)
    await train(4)
    const runs = await api<RunInfo[]>('training.runs', { dir })
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed'])
    // runs are newest first: the view compares the older (A) with the newer (B)
    expected = await api<CompareResult>('evaluation.compare', { dir, options: { runA: runs[1].runId, runB: runs[0].runId } })
    expect(expected.counts.changed).toBeGreaterThan(0)
  }, 600_000)

  for (const viewport of [
    { width: 1280, height: 800 },
    { width: 1024, height: 700 },
  ]) {
    it(`shows both runs' metrics, matrices and the changed images at ${viewport.width}x${viewport.height}`, async () => {
      await withPage(viewport, async (page) => {
        const size = viewport.width
        await openProject(page, studio.url, dir, 'compare')
        await page.getByRole('heading', { level: 1, name: 'Compare runs' }).waitFor()
        await page.getByTestId('metric-accuracy-a').waitFor({ timeout: 120_000 })
        expect(await page.getByLabel('Run A').inputValue()).toBe(expected.a.runId)
        expect(await page.getByLabel('Run B').inputValue()).toBe(expected.b.runId)
        expect(await page.getByTestId('metric-accuracy-a').textContent()).toBe(pct(expected.a.accuracy))
        expect(await page.getByTestId('metric-accuracy-b').textContent()).toBe(pct(expected.b.accuracy))
        expect(await page.getByTestId('metric-epochs-a').textContent()).toBe('1 / 1')
        expect(await page.getByTestId('metric-epochs-b').textContent()).toBe('4 / 4')
        for (const side of ['a', 'b'] as const) {
          const cells = await page.getByTestId(`matrix-${side}`).locator('button.cell .count').allTextContents()
          expect(cells.map(Number)).toEqual(expected[side].confusionMatrix.flat())
        }
        for (const card of await page.locator('.card').all()) expect(await spills(card)).toEqual([])
        await screenshotBoth(page, `top-${size}`, 'compare/')

        await page.getByTestId('matrix-a').scrollIntoViewIfNeeded()
        await screenshotBoth(page, `matrices-${size}`, 'compare/')

        const changed = page.getByTestId('changed')
        await changed.scrollIntoViewIfNeeded()
        expect(await changed.getByTestId('changed-count').textContent()).toBe(String(expected.counts.changed))
        const tiles = changed.getByRole('listitem')
        expect(await tiles.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))))).toEqual(expected.changed.map((c) => c.id))
        const first = expected.changed[0]
        expect(await tiles.first().getByTestId('changed-a').textContent()).toContain(first.a.predicted)
        expect(await tiles.first().getByTestId('changed-b').textContent()).toContain(first.b.predicted)
        await expect.poll(() => tiles.first().locator('img').evaluate((img: any) => img.complete && img.naturalWidth > 0)).toBe(true)
        await screenshotBoth(page, `changed-${size}`, 'compare/')

        // Each filter shows its count of tiles.
        for (const [key, count] of [['fixed', expected.counts.fixed], ['broke', expected.counts.broke], ['bothWrong', expected.counts.bothWrong]] as const) {
          await changed.getByTestId(`filter-${key}`).click()
          await expect.poll(() => (count ? tiles.count() : changed.getByText('No changed image matches.').count())).toBe(count || 1)
        }
        await changed.getByTestId('filter-all').click()
        await expect.poll(() => tiles.count()).toBe(expected.counts.changed)
      })
    }, 240_000)
  }
})
