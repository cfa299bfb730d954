import { copyFileSync, mkdtempSync, rmSync, truncateSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import type { RunInfo } from '../../src/shared/training'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { TrainPage } from './pages/journey'
import { apiClient, openProject, writeClassesDataset } from './pages/fixes'

/**
 * The native journey in the browser studio: a stopped transfer run resumes from the Train view
 * with its own settings (a failed resume leaves it resumable); a folder dropped or chosen in the
 * Data view is uploaded and imported; an export ends with a download.
 */
const SHOTS = join(SCREENSHOT_DIR, 'native')
const missing = chromiumMissing()

describe.skipIf(missing)('native input, output and resume in the web studio (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  let api: ReturnType<typeof apiClient>
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  async function project(name: string, source: string, options: Record<string, unknown>): Promise<string> {
    const p = await api<{ dir: string }>('projects.create', { name })
    await api('datasets.import', { dir: p.dir, source, options })
    return p.dir
  }

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-native-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    rmSync(SHOTS, { recursive: true, force: true })
    await writeClassesDataset(join(root, 'shapes'), ['circle', 'square', 'triangle'], 24)
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

  const stopButton = (page: Page) => page.getByRole('main').getByRole('button', { name: /^Stop/ })
  const resumeButton = (page: Page) => page.getByTestId('resume')

  it('a transfer run stopped after epoch 1 resumes from the Train view with its own settings (a reset form does not change its total); a failed resume shows why and keeps Resume; the run completes with every epoch', async () => {
    const dir = await project('Resume me', join(root, 'shapes'), { size: 96, val: 0.25 })
    await withPage('resume', async (page) => {
      const train = new TrainPage(page)
      await openProject(page, studio.url, dir, 'train')
      await page.getByRole('button', { name: 'Start training' }).waitFor()
      // Augmented, so every epoch runs the base (slow enough to stop after the first one).
      await page.getByLabel('Augmentation').fill('flip')
      await page.getByRole('checkbox', { name: 'Early stopping' }).uncheck()
      await train.start({ epochs: 4, batch: 8, lr: 0.005 })
      await expect.poll(() => train.epochsDrawn(), { timeout: 180_000, interval: 100 }).toBeGreaterThanOrEqual(1)
      await stopButton(page).click()
      await page.getByRole('status').filter({ hasText: 'Stopped. You can resume this run.' }).waitFor({ timeout: 120_000 })
      const [stopped] = await api<RunInfo[]>('training.runs', { dir })
      expect(stopped).toMatchObject({ status: 'stopped', hasLast: true, epochsPlanned: 4 })
      expect(stopped.epochsDone).toBeGreaterThanOrEqual(1)
      expect(stopped.epochsDone).toBeLessThan(4)
      const done = stopped.epochsDone
      await expect.poll(() => resumeButton(page).textContent()).toBe(`Resume ${stopped.runId} (epoch ${done}/4)`)
      await screenshotBoth(page, 'train-stopped', 'native/')

      // A reload resets the form to the defaults (10 epochs, no augmentation): Resume still
      // continues the run as it was started (4 epochs, flip), not with the form.
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await resumeButton(page).waitFor()
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('10')
      await expect.poll(() => train.epochsDrawn(), { timeout: 30_000 }).toBe(done)

      // A resume that fails (its checkpoint damaged): the error and its hint are shown, the
      // curves stay, the run stays stopped and Resume is still offered.
      const weights = join(dir, 'runs', stopped.runId, 'checkpoints', 'last', 'weights.bin')
      copyFileSync(weights, join(root, 'weights.bak'))
      truncateSync(weights, 100)
      await resumeButton(page).click()
      const alert = page.getByRole('form', { name: 'Training settings' }).getByRole('alert')
      await alert.waitFor({ timeout: 120_000 })
      expect(await alert.textContent()).toMatch(new RegExp(`Could not resume run ${stopped.runId}: The checkpoint .* is damaged`))
      expect(await alert.textContent()).toMatch(/left as it was \(stopped/)
      await resumeButton(page).waitFor()
      expect(await resumeButton(page).textContent()).toBe(`Resume ${stopped.runId} (epoch ${done}/4)`)
      expect(await train.epochsDrawn()).toBe(done)
      expect((await api<RunInfo[]>('training.runs', { dir }))[0]).toMatchObject({ runId: stopped.runId, status: 'stopped', epochsDone: done })
      await screenshotBoth(page, 'train-resume-failed', 'native/')

      // Whole again: Resume continues the same run to its 4 epochs, the chart keeps the earlier ones.
      copyFileSync(join(root, 'weights.bak'), weights)
      await resumeButton(page).click()
      await expect.poll(() => stopButton(page).isEnabled(), { timeout: 60_000 }).toBe(true)
      await expect.poll(() => page.getByTestId('epoch').textContent(), { timeout: 60_000 }).toMatch(/^\d+\/4$/)
      expect(await train.epochsDrawn()).toBeGreaterThanOrEqual(done)
      // The form shows the resumed run's settings, not the reset defaults.
      expect(await page.getByLabel('Augmentation').inputValue()).toBe('flip')
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('4')
      expect(await page.getByRole('form', { name: 'Training settings' }).getByRole('alert').count()).toBe(0)
      await train.finished().waitFor({ timeout: 240_000 })
      expect(await train.epochsDrawn()).toBe(4)
      const runs = await api<RunInfo[]>('training.runs', { dir })
      expect(runs).toHaveLength(1)
      expect(runs[0]).toMatchObject({ runId: stopped.runId, status: 'completed', epochsDone: 4, epochsPlanned: 4 })
      await train.pastRuns().getByRole('row').filter({ hasText: stopped.runId }).getByText('completed', { exact: true }).waitFor()
      expect(await resumeButton(page).count()).toBe(0)
      await screenshotBoth(page, 'train-resumed', 'native/')
    })
  }, 600_000)
})
