import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import type { RunInfo } from '../../src/shared/training'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { DataPage, ExportPage, TrainPage } from './pages/journey'
import { extractZip } from '../../src/main/services/examples/zip'
import { apiClient, openProject, spills, writeClassesDataset } from './pages/fixes'

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
    // A folder to choose: two classes, plus files an upload leaves out (hidden ones).
    await writeClassesDataset(join(root, 'to-choose'), ['daisy', 'rose'], 6)
    writeFileSync(join(root, 'to-choose', '.DS_Store'), 'x')
    mkdirSync(join(root, 'to-choose', '.git'))
    writeFileSync(join(root, 'to-choose', '.git', 'HEAD'), 'x')
    // A folder to drop, with its own train/validation split.
    await writeClassesDataset(join(root, 'split-src'), ['cat', 'dog', 'fox'], 8)
    for (const cls of ['cat', 'dog', 'fox'])
      for (const [i, f] of readdirSync(join(root, 'split-src', cls)).sort().entries()) {
        const part = i < 6 ? 'train' : 'validation'
        mkdirSync(join(root, 'to-drop', part, cls), { recursive: true })
        cpSync(join(root, 'split-src', cls, f), join(root, 'to-drop', part, cls, f))
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

  /** Every file below `dir`, as paths relative to it ('/'-separated). */
  function filesBelow(dir: string): string[] {
    const out: string[] = []
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name))
        else out.push(relative(dir, join(d, e.name)).split('\\').join('/'))
      }
    }
    walk(dir)
    return out.sort()
  }

  /** What the app data folder's uploads/ holds (staging folders; empty once every upload is over). */
  const staging = () => (existsSync(join(root, 'home', 'uploads')) ? readdirSync(join(root, 'home', 'uploads')) : [])

  /**
   * Drops `dir` on the import form as a desktop drag does: a drop event whose DataTransfer item
   * is a directory entry (webkitGetAsEntry), read in batches by readEntries. Chromium cannot
   * make a directory DataTransfer from a script, so the entries are built in the page around
   * real File objects with the folder's bytes.
   */
  async function dropFolder(page: Page, dir: string): Promise<void> {
    const files = filesBelow(dir).map((p) => ({ path: p, base64: readFileSync(join(dir, p)).toString('base64') }))
    const name = dir.split('/').pop()!
    await page.getByTestId('import-drop').evaluate(
      (zone, { name, files }) => {
        type Node = { name: string; files: Map<string, File>; dirs: Map<string, Node> }
        const tree: Node = { name, files: new Map(), dirs: new Map() }
        for (const f of files) {
          const parts = f.path.split('/')
          let at = tree
          for (const p of parts.slice(0, -1)) {
            if (!at.dirs.has(p)) at.dirs.set(p, { name: p, files: new Map(), dirs: new Map() })
            at = at.dirs.get(p)!
          }
          const bin = atob(f.base64)
          const bytes = new Uint8Array(bin.length)
          for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
          at.files.set(parts[parts.length - 1], new File([bytes], parts[parts.length - 1], { type: 'image/png' }))
        }
        const entry = (n: Node): unknown => ({
          isFile: false,
          isDirectory: true,
          name: n.name,
          createReader() {
            // Two entries per batch, then an empty batch: as readEntries answers for big folders.
            const all = [...[...n.dirs.values()].map(entry), ...[...n.files.entries()].map(([fname, file]) => ({ isFile: true, isDirectory: false, name: fname, file: (ok: (f: File) => void) => ok(file) }))]
            let at = 0
            return { readEntries: (ok: (e: unknown[]) => void) => setTimeout(() => ok(all.slice(at, (at += 2))), 0) }
          },
        })
        const dt = { items: [{ kind: 'file', webkitGetAsEntry: () => entry(tree) }] }
        for (const type of ['dragover', 'drop']) {
          const ev = new (globalThis as any).DragEvent(type, { bubbles: true, cancelable: true })
          Object.defineProperty(ev, 'dataTransfer', { value: dt })
          zone.dispatchEvent(ev)
        }
      },
      { name, files },
    )
  }

  it('a folder chosen with the folder picker is uploaded (hidden files left out) and imported; the staging folder is removed', async () => {
    const p = await api<{ dir: string }>('projects.create', { name: 'Chosen' })
    await withPage('choose', async (page) => {
      await openProject(page, studio.url, p.dir, 'data')
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
      await page.getByRole('button', { name: 'Choose folder…' }).waitFor()
      await screenshotBoth(page, 'data-empty', 'native/')
      await page.getByLabel('Image size in pixels').fill('64')
      await page.getByLabel('Folder to upload and import').setInputFiles(join(root, 'to-choose'))
      const data = new DataPage(page)
      await data.result().waitFor({ timeout: 120_000 })
      expect(await data.result().textContent()).toContain('Imported 12 new images')
      await expect.poll(() => page.getByTestId('total-images').textContent()).toBe('12')
      expect(await data.thumbnails('daisy').count()).toBeGreaterThan(0)
      await screenshotBoth(page, 'data-chosen', 'native/')
      // The smallest supported window: the import form does not spill sideways.
      await page.setViewportSize({ width: 1024, height: 700 })
      expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(1024)
      expect(await spills(page.getByRole('form', { name: 'Import images' }))).toEqual([])
      await screenshotBoth(page, 'data-chosen-1024', 'native/')
      const overview = await api<{ classes: { name: string; count: number }[] }>('datasets.overview', { dir: p.dir })
      expect(overview.classes.map((c) => [c.name, c.count])).toEqual([['daisy', 6], ['rose', 6]])
      expect(staging()).toEqual([])
    })
  }, 300_000)

  it('an upload shows its progress in bytes and can be cancelled: nothing imported, the staging folder removed', async () => {
    const p = await api<{ dir: string }>('projects.create', { name: 'Cancelled' })
    await withPage('cancel', async (page) => {
      // A slow link: every file takes a while to arrive.
      await page.route('**/upload/file?**', async (route) => {
        await new Promise((r) => setTimeout(r, 700))
        await route.continue().catch(() => undefined)
      })
      await openProject(page, studio.url, p.dir, 'data')
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
      await page.getByLabel('Folder to upload and import').setInputFiles(join(root, 'to-choose'))
      const panel = page.getByRole('status', { name: 'Uploading' })
      await panel.waitFor({ timeout: 30_000 })
      await expect.poll(() => panel.textContent()).toMatch(/Uploading to-choose: [1-9]\d*\/12 files/)
      expect(await panel.textContent()).toMatch(/\d+(\.\d+)? ?(B|KB|kB|MB)/)
      await screenshotBoth(page, 'data-uploading', 'native/')
      await panel.getByRole('button', { name: 'Cancel' }).click()
      const error = page.getByRole('form', { name: 'Import images' }).getByRole('alert')
      await error.waitFor({ timeout: 30_000 })
      expect(await error.textContent()).toContain('Cancelled.')
      await expect.poll(() => staging(), { timeout: 10_000 }).toEqual([])
      expect((await api<{ total: number }>('datasets.overview', { dir: p.dir })).total).toBe(0)
      await screenshotBoth(page, 'data-upload-cancelled', 'native/')
    })
  }, 300_000)

  it('a folder dropped on the import form (directory traversal) is uploaded with its train/validation split and imported', async () => {
    const p = await api<{ dir: string }>('projects.create', { name: 'Dropped' })
    await withPage('drop', async (page) => {
      await openProject(page, studio.url, p.dir, 'data')
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
      await page.getByLabel('Image size in pixels').fill('64')
      await dropFolder(page, join(root, 'to-drop'))
      const data = new DataPage(page)
      await data.result().waitFor({ timeout: 120_000 })
      expect(await data.result().textContent()).toContain('Imported 24 new images')
      // The folder's own split: 6 train and 2 validation images per class.
      await expect.poll(() => page.getByTestId('split-summary').textContent()).toBe('18 / 6 / 0')
      await screenshotBoth(page, 'data-dropped', 'native/')
      expect(staging()).toEqual([])
      // A typed server path still works, next to the upload.
      await writeClassesDataset(join(root, 'more'), ['cat', 'dog', 'fox'], 2, 64, 99)
      await data.importFolder(join(root, 'more'))
      await expect.poll(async () => (await data.result().textContent()) ?? '', { timeout: 120_000 }).toMatch(/Imported 6 new images/)
      await expect.poll(() => page.getByTestId('total-images').textContent()).toBe('30')
    })
  }, 300_000)

  it('an export from the browser studio ends with a download: a zip of the export folder; exporting there again names the “Replace an earlier export” checkbox', async () => {
    const dir = await project('Export me', join(root, 'shapes'), { size: 96, val: 0.25 })
    await api('training.start', { dir, options: { recipe: 'transfer', base: 'mobilenetv2', epochs: 1, augment: 'none' } })
    await expect.poll(async () => (await api<{ running: boolean }>('training.status', { dir })).running, { timeout: 240_000, interval: 250 }).toBe(false)
    await withPage('export', async (page) => {
      await openProject(page, studio.url, dir, 'export')
      await page.getByRole('heading', { level: 1, name: 'Export' }).waitFor()
      const ex = new ExportPage(page)
      const out = join(root, 'exports', 'shapes-onnx')
      const downloaded = page.waitForEvent('download', { timeout: 240_000 })
      await ex.export('ONNX', out)
      const download = await downloaded
      expect(download.suggestedFilename()).toBe('shapes-onnx.zip')
      const zip = join(root, 'download.zip')
      await download.saveAs(zip)
      await ex.verdict().waitFor({ timeout: 60_000 })
      expect(await ex.verdict().textContent()).toContain('Parity check passed')
      // The zip holds exactly the export's files, byte for byte.
      const listed = await page.getByRole('main').locator('ul.files li').allTextContents()
      await extractZip(zip, join(root, 'unzipped'))
      expect(readdirSync(join(root, 'unzipped')).sort()).toEqual([...listed].sort())
      expect(listed).toContain('model.onnx')
      for (const f of listed) expect(readFileSync(join(root, 'unzipped', f)).equals(readFileSync(join(out, f))), f).toBe(true)
      // The link downloads it again.
      const link = page.getByTestId('export-download')
      expect(await link.textContent()).toBe('Download shapes-onnx.zip')
      await link.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'export-download', 'native/')

      // The same folder again: the error says which checkbox replaces it; ticked, it does.
      await page.getByRole('main').getByRole('button', { name: 'Export', exact: true }).click()
      const error = page.getByRole('main').getByRole('alert')
      await error.waitFor({ timeout: 60_000 })
      expect(await error.textContent()).toMatch(/tick “Replace an earlier export”/)
      await error.scrollIntoViewIfNeeded()
      await screenshotBoth(page, 'export-replace-error', 'native/')
      const again = page.waitForEvent('download', { timeout: 240_000 })
      await page.getByRole('checkbox', { name: 'Replace an earlier export in this folder' }).check()
      await page.getByRole('main').getByRole('button', { name: 'Export', exact: true }).click()
      expect((await again).suggestedFilename()).toBe('shapes-onnx.zip')
    })
    // Only a finished export of the app, for an opened project, is served as a zip.
    const get = (q: string) => fetch(`http://127.0.0.1:${studio.port}/files/export.zip?${q}`, { headers: { authorization: `Bearer ${studio.token}` } })
    const notExport = await get(`dir=${encodeURIComponent(dir)}&out=${encodeURIComponent(join(root, 'shapes'))}`)
    expect(notExport.status).toBe(404)
    expect(((await notExport.json()) as { error: { message: string } }).error.message).toMatch(/not a finished export/)
    expect((await get(`dir=${encodeURIComponent(join(root, 'shapes'))}&out=${encodeURIComponent(join(root, 'exports', 'shapes-onnx'))}`)).status).toBe(403)
    expect((await fetch(`http://127.0.0.1:${studio.port}/files/export.zip?dir=${encodeURIComponent(dir)}&out=${encodeURIComponent(join(root, 'exports', 'shapes-onnx'))}`)).status).toBe(401)
  }, 600_000)

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

      // A reload resets the form to the defaults (automatic epochs, no augmentation): Resume still
      // continues the run as it was started (4 epochs, flip), not with the form.
      await page.reload()
      await page.getByRole('heading', { level: 1, name: 'Train' }).waitFor()
      await resumeButton(page).waitFor()
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('')
      expect(await page.getByLabel('Epochs', { exact: true }).getAttribute('placeholder')).toBe('automatic')
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
