import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { EvaluatePage, loadedWidth, PredictPage } from './pages/journey'
import { apiClient, openProject, spills, writeClassesDataset } from './pages/fixes'

/**
 * Seeing what the model and the data do: saliency overlays in the Evaluate cell gallery and in
 * Predict (a transfer model and a CNN), augmentation as controls with their spec and preview,
 * and the small-images health warning that names its images.
 */
const SHOTS = join(SCREENSHOT_DIR, 'insight')
const missing = chromiumMissing()

describe.skipIf(missing)('saliency, augmentation controls and small images (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME
  const dirs: Record<string, string> = {}

  async function project(name: string, source: string, options: Record<string, unknown>): Promise<string> {
    const p = await api<{ dir: string }>('projects.create', { name })
    await api('datasets.import', { dir: p.dir, source, options })
    return p.dir
  }

  async function trainAndWait(dir: string, options: Record<string, unknown>): Promise<void> {
    await api('training.start', { dir, options })
    await expect.poll(async () => (await api<{ running: boolean }>('training.status', { dir })).running, { timeout: 240_000, interval: 250 }).toBe(false)
    const runs = await api<{ status: string }[]>('training.runs', { dir })
    expect(runs[0]?.status).toBe('completed')
  }

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-insight-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 16)
    // Some images far below the 96-pixel input: 20 px (written under their own names).
    await writeClassesDataset(join(root, 'tiny-src'), ['circle', 'square'], 3, 20, 11)
    for (const cls of ['circle', 'square']) {
      cpSync(join(root, 'shapes', cls), join(root, 'mixed', cls), { recursive: true })
      for (const f of readdirSync(join(root, 'tiny-src', cls))) cpSync(join(root, 'tiny-src', cls, f), join(root, 'mixed', cls, `tiny-${f}`))
    }
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

  async function withPage(name: string, body: (page: Page) => Promise<void>): Promise<void> {
    const { context, page, errors } = await newPage(browser, 'light')
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

  /** The n-th gallery image's saliency toggle, and its overlay once drawn. */
  const overlayOf = (item: ReturnType<EvaluatePage['gallery']>) => item.getByTestId('saliency-overlay')

  it('augmentation as controls: checkboxes and sliders give the --augment spec; moving a slider changes the spec and the preview beside the originals', async () => {
    dirs.aug = await project('Augment', join(root, 'shapes'), { size: 96, val: 0.25 })
    await withPage('augment', async (page) => {
      await openProject(page, studio.url, dirs.aug, 'data')
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
      const spec = page.getByTestId('augment-spec')
      const preview = page.getByRole('list', { name: 'Augmentation preview' })
      await spec.scrollIntoViewIfNeeded()
      // The default, and its preview: each original beside its augmented version.
      expect(await spec.textContent()).toBe('flip,rotate=15,zoom=0.1')
      await expect.poll(() => preview.getAttribute('data-spec'), { timeout: 60_000 }).toBe('flip,rotate=15,zoom=0.1')
      expect(await preview.getByRole('listitem').count()).toBe(4)
      for (const i of [1, 2, 3, 4]) {
        await expect.poll(() => loadedWidth(preview.getByRole('img', { name: new RegExp(`^Original ${i} `) }))).toBeGreaterThan(0)
        await expect.poll(() => loadedWidth(preview.getByRole('img', { name: new RegExp(`^Augmented ${i} `) }))).toBeGreaterThan(0)
      }
      const before = await preview.getByTestId('augmented').evaluateAll((els) => els.map((e) => e.getAttribute('src')))
      const originals = await preview.getByRole('img', { name: /^Original / }).evaluateAll((els) => els.map((e) => e.getAttribute('src')))
      await screenshotBoth(page, 'augment-default', 'insight/')

      // Rotation slider to 40 degrees (keyboard, as a user would): the spec and the preview change.
      const rotation = page.getByRole('slider', { name: 'Rotation amount' })
      await rotation.focus()
      for (let i = 0; i < 25; i++) await page.keyboard.press('ArrowRight')
      expect(await rotation.inputValue()).toBe('40')
      expect(await spec.textContent()).toBe('flip,rotate=40,zoom=0.1')
      await expect.poll(() => preview.getAttribute('data-spec'), { timeout: 60_000 }).toBe('flip,rotate=40,zoom=0.1')
      const after = await preview.getByTestId('augmented').evaluateAll((els) => els.map((e) => e.getAttribute('src')))
      expect(after).toHaveLength(4)
      expect(after.filter((a, i) => a !== before[i]).length).toBeGreaterThan(0)
      // Same images picked: only the augmentation changed.
      expect(await preview.getByRole('img', { name: /^Original / }).evaluateAll((els) => els.map((e) => e.getAttribute('src')))).toEqual(originals)

      // Checkboxes: brightness on, zoom off, upside-down flip: the spec the CLI takes.
      await page.getByRole('checkbox', { name: 'Brightness' }).check()
      await page.getByRole('checkbox', { name: 'Zoom' }).uncheck()
      expect(await page.getByRole('slider', { name: 'Zoom amount' }).isDisabled()).toBe(true)
      await page.getByRole('checkbox', { name: 'Flip upside down' }).check()
      expect(await spec.textContent()).toBe('flip=both,rotate=40,brightness=0.2')
      await page.getByRole('slider', { name: 'Brightness amount' }).fill('0.35')
      expect(await spec.textContent()).toBe('flip=both,rotate=40,brightness=0.35')
      await expect.poll(() => preview.getAttribute('data-spec'), { timeout: 60_000 }).toBe('flip=both,rotate=40,brightness=0.35')
      await spec.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'augment-changed', 'insight/')
      // Everything off: "none", and the "augmented" images are the originals.
      for (const name of ['Flip left–right', 'Flip upside down', 'Rotation', 'Brightness']) await page.getByRole('checkbox', { name }).uncheck()
      expect(await spec.textContent()).toBe('none')
      await expect.poll(() => preview.getAttribute('data-spec'), { timeout: 60_000 }).toBe('none')
      const none = await preview.getByTestId('augmented').evaluateAll((els) => els.map((e) => e.getAttribute('src')))
      expect(none).toEqual(originals)
      // At 1024x700 the controls and the preview stack, and nothing spills out of the card.
      await page.setViewportSize({ width: 1024, height: 700 })
      const card = page.locator('.card').filter({ has: page.getByRole('heading', { name: 'Augmentation', exact: true }) })
      await page.getByRole('checkbox', { name: 'Shift' }).check()
      await expect.poll(() => preview.getAttribute('data-spec'), { timeout: 60_000 }).toBe('shift=0.1')
      expect(await spills(card)).toEqual([])
      await card.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'augment-1024', 'insight/')
    })
  }, 240_000)

  it('the small-images health warning names them; a click lists each with its thumbnail and original size', async () => {
    dirs.mixed = await project('Mixed sizes', join(root, 'mixed'), { size: 96, val: 0.25 })
    await withPage('small-images', async (page) => {
      await openProject(page, studio.url, dirs.mixed, 'data')
      const warning = page.getByTestId('small-images-warning')
      await warning.waitFor({ timeout: 30_000 })
      const text = (await warning.textContent()) ?? ''
      expect(text).toMatch(/^6 images are much smaller than the 96-pixel input \(shorter side under 48 px\): tiny-\S+\.png \(20x20\), tiny-\S+\.png \(20x20\), tiny-\S+\.png \(20x20\) and 3 more\./)
      const list = page.getByRole('list', { name: 'Small images' })
      expect(await list.count()).toBe(0)
      await warning.getByRole('button', { name: 'Show all 6' }).click()
      await list.waitFor()
      const items = list.getByRole('listitem')
      expect(await items.count()).toBe(6)
      const names = (await items.locator('.name').allTextContents()).sort()
      expect(names).toEqual(['circle', 'square'].flatMap((c) => [0, 1, 2].map((k) => `tiny-${c}-${k}.png`)).sort())
      for (const t of await items.locator('.size').allTextContents()) expect(t).toBe('20×20')
      for (let i = 0; i < 6; i++) await expect.poll(() => loadedWidth(items.nth(i).getByRole('img'))).toBeGreaterThan(0)
      await warning.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'small-images', 'insight/')
      await warning.getByRole('button', { name: 'Hide' }).click()
      expect(await list.count()).toBe(0)
    })
  }, 240_000)

  for (const kind of ['transfer', 'cnn'] as const) {
    it(`saliency (${kind}): a toggle on each image of a confusion cell and of Predict overlays its heatmap; “on all” covers every image`, async () => {
      dirs[kind] = await project(`Shapes ${kind}`, join(root, 'shapes'), { size: 96, val: 0.25 })
      await trainAndWait(
        dirs[kind],
        kind === 'transfer'
          ? { recipe: 'transfer', base: 'mobilenetv2', epochs: 6, augment: 'none' }
          : { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 4, batchSize: 8, augment: 'none' },
      )
      await withPage(`saliency-${kind}`, async (page) => {
        await openProject(page, studio.url, dirs[kind], 'evaluate')
        const ev = new EvaluatePage(page)
        await ev.evaluate('validation')
        const cells = await ev.cells()
        const diag = cells.filter((c) => c.trueLabel === c.predLabel && c.count > 0).sort((a, b) => b.count - a.count)[0]
        await ev.cell(diag.trueLabel, diag.predLabel).click()
        const gallery = ev.gallery()
        await gallery.first().waitFor()
        const n = await gallery.count()
        expect(n).toBe(diag.count)
        // Off at first: no overlay anywhere.
        expect(await page.getByTestId('saliency-overlay').count()).toBe(0)
        const toggle = gallery.first().getByRole('button', { name: /^Saliency of image / })
        expect(await toggle.getAttribute('aria-pressed')).toBe('false')
        const plain = await gallery.first().locator('img').first().getAttribute('src')
        await toggle.click()
        expect(await toggle.getAttribute('aria-pressed')).toBe('true')
        const overlay = overlayOf(gallery.first())
        await overlay.waitFor({ timeout: 60_000 })
        expect(await overlay.getAttribute('src')).toMatch(/^data:image\/png;base64,/)
        expect(await overlay.getAttribute('src')).not.toBe(plain)
        await expect.poll(() => loadedWidth(overlay)).toBeGreaterThan(0)
        expect(await overlay.getAttribute('alt')).toMatch(/^Saliency map of image \d+$/)
        // Only that image: the others still show the photo.
        expect(await page.getByTestId('saliency-overlay').count()).toBe(1)
        await page.getByTestId('cell-gallery').scrollIntoViewIfNeeded()
        await screenshotBoth(page, `evaluate-saliency-one-${kind}`, 'insight/')
        // The switch: every image of the cell; off again: none.
        await page.getByRole('checkbox', { name: 'Show saliency on every image' }).check()
        await expect.poll(() => page.getByTestId('saliency-overlay').count(), { timeout: 120_000 }).toBe(n)
        await screenshotBoth(page, `evaluate-saliency-all-${kind}`, 'insight/')
        await gallery.first().getByRole('button', { name: /^Saliency of image / }).click()
        await expect.poll(() => page.getByTestId('saliency-overlay').count()).toBe(n - 1)
        await page.getByRole('checkbox', { name: 'Show saliency on every image' }).uncheck()
        // Off: the switch clears the per-image toggles too.
        await expect.poll(() => page.getByTestId('saliency-overlay').count()).toBe(0)

        // Predict: dropped images get the same toggle.
        await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Predict', exact: true }).click()
        const pr = new PredictPage(page)
        const files = ['circle', 'square', 'triangle'].map((c) => ({ name: `${c}-new.png`, base64: readFileSync(join(root, 'shapes', c, readdirSync(join(root, 'shapes', c)).sort()[0])).toString('base64'), type: 'image/png' }))
        await pr.drop(files)
        await pr.results().getByRole('row').nth(3).waitFor({ timeout: 60_000 })
        const row = pr.results().getByRole('row').filter({ hasText: 'square-new.png' })
        await row.getByRole('button', { name: 'Saliency of square-new.png' }).click()
        const pOverlay = row.getByTestId('saliency-overlay')
        await pOverlay.waitFor({ timeout: 60_000 })
        await expect.poll(() => loadedWidth(pOverlay)).toBeGreaterThan(0)
        expect(await page.getByTestId('saliency-overlay').count()).toBe(1)
        await page.getByRole('checkbox', { name: 'Show saliency on every image' }).check()
        // Maps are computed for the rows on screen: the last row's comes once it is scrolled to.
        await pr.results().getByRole('row').last().scrollIntoViewIfNeeded()
        await expect.poll(() => page.getByTestId('saliency-overlay').count(), { timeout: 60_000 }).toBe(3)
        await screenshotBoth(page, `predict-saliency-${kind}`, 'insight/')
        await page.setViewportSize({ width: 1024, height: 700 })
        expect(await spills(page.locator('.card').filter({ has: pr.results() }))).toEqual([])
        await pr.results().scrollIntoViewIfNeeded()
        await screenshotBoth(page, `predict-saliency-${kind}-1024`, 'insight/')
        await page.setViewportSize({ width: 1280, height: 800 })
      })
    }, 480_000)
  }
})
