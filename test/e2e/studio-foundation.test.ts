import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startStudio } from '../../src/main/web/studio'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR, screenshotBoth } from './browser'
import { ExamplesPage, ProjectsPage, StudioPage } from './pages/studio'
import { TrainPage } from './pages/journey'

const missing = chromiumMissing()

/** Opens a WebSocket from Node with the given headers; resolves 'open' or the refusal status. */
function tryWs(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => {
      ws.close()
      resolve('open')
    })
    ws.on('unexpected-response', (_req, res) => resolve(`refused ${res.statusCode}`))
    ws.on('error', (e) => resolve(`error ${e.message}`))
  })
}

describe.skipIf(missing)('web studio foundation (chromium)', () => {
  let home: string
  let workspace: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  beforeAll(async () => {
    ensureWebBuild()
    home = mkdtempSync(join(tmpdir(), 'cs-e2e-home-'))
    workspace = mkdtempSync(join(tmpdir(), 'cs-e2e-ws-'))
    process.env.CLASSIFIER_STUDIO_HOME = home
    studio = await startStudio({ port: 0, workspaceDir: workspace })
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(home, { recursive: true, force: true })
    rmSync(workspace, { recursive: true, force: true })
  })

  it('creates a project, finds it in the recent list after a reload, and shows every view in light and dark', async () => {
    const { context, page, errors } = await newPage(browser)
    const shell = new StudioPage(page)
    const projects = new ProjectsPage(page)
    await page.goto(studio.url)
    await shell.heading().filter({ hasText: 'Projects' }).waitFor()
    await screenshotBoth(page, 'projects-empty', 'foundation-')

    await projects.create('Foundation demo')
    // Creating opens the project and moves on to the Data view.
    await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
    await expect.poll(() => shell.nav().textContent()).toContain('Foundation demo')

    // The token travelled in the URL once; the reload works from the cookie alone.
    await page.goto(studio.url.replace(/\?.*$/, ''))
    await shell.go('Projects')
    await projects.recentRow('Foundation demo').waitFor()
    expect(await projects.recentRow('Foundation demo').textContent()).toContain(join(workspace, 'Foundation demo'))
    await screenshotBoth(page, 'projects', 'foundation-')

    // Every view is reachable from the sidebar and renders a heading (and no crash) without services.
    for (const view of ['Data', 'Model', 'Train', 'Evaluate', 'Predict', 'Export'] as const) {
      await shell.go(view)
      await screenshotBoth(page, view.toLowerCase(), 'foundation-')
    }
    expect(errors).toEqual([])
    await context.close()
  })

  it('starts a project from an example (local copy of its data): errors inline, then the preset recipe trains', async () => {
    // A tiny Fashion-MNIST-shaped IDX set: 40 train + 10 test images of 28x28, labels 0..9.
    const src = join(workspace, '..', `${workspace.split('/').pop()}-idx`)
    mkdirSync(src, { recursive: true })
    const idx3 = (n: number, from: number) => Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28]), ...Array.from({ length: n }, (_, i) => Buffer.alloc(784, (from + i * 23) % 256))])
    const idx1 = (n: number) => Buffer.concat([Buffer.from([0, 0, 8, 1, 0, 0, 0, n]), Buffer.from(Array.from({ length: n }, (_, i) => i % 10))])
    writeFileSync(join(src, 'train-images-idx3-ubyte.gz'), gzipSync(idx3(40, 0)))
    writeFileSync(join(src, 'train-labels-idx1-ubyte.gz'), gzipSync(idx1(40)))
    writeFileSync(join(src, 't10k-images-idx3-ubyte.gz'), gzipSync(idx3(10, 100)))
    writeFileSync(join(src, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx1(10)))

    const { context, page, errors } = await newPage(browser)
    const shell = new StudioPage(page)
    const examples = new ExamplesPage(page)
    try {
      await page.goto(studio.url)
      await shell.go('Projects')
      await expect.poll(() => examples.cards().count()).toBeGreaterThanOrEqual(5)
      await examples.pick(/Fashion-MNIST/)
      expect(await page.getByLabel('Example project name').inputValue()).toMatch(/Fashion-MNIST/)

      // A local copy that is not there: the error appears inline with what to do.
      await examples.create('Fashion tiny', join(src, 'missing'))
      const alert = page.getByRole('main').getByRole('alert')
      await alert.waitFor({ timeout: 30_000 })
      expect((await alert.textContent())!.length).toBeGreaterThan(20)
      expect(await shell.heading().textContent()).toBe('Projects')

      await examples.create('Fashion tiny', src)
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor({ timeout: 60_000 })
      expect(await page.getByTestId('total-images').textContent()).toBe('50')

      // Train starts from the example's recipe and its preset model (the tutorial CNN).
      await shell.go('Train')
      await page.getByTestId('example-recipe').waitFor()
      expect(await page.getByLabel('Epochs', { exact: true }).inputValue()).toBe('10')
      expect(await page.getByRole('form', { name: 'Training settings' }).textContent()).toContain('Custom CNN')
      // The stage's options the form has no field for still run (and are named).
      expect(await page.getByTestId('example-recipe').textContent()).toContain('learning rate ×0.2 after 1 stalled epoch(s) · label smoothing 0.1')
      expect(await page.getByTestId('example-input-size').count()).toBe(0) // made at the tutorial's 28 px
      await screenshotBoth(page, 'train-example', 'foundation-')
      const train = new TrainPage(page)
      await train.start({ epochs: 1 })
      await train.finished().waitFor({ timeout: 120_000 })
      expect(await train.epochsDrawn()).toBe(1)

      // One click runs the whole recipe (its stage with all its options, then the evaluation on t10k).
      await page.getByTestId('run-recipe').click()
      // The step badge, or an error saying why the recipe did not start (shown in the failure).
      await page.getByTestId('recipe-step').or(page.getByRole('main').getByRole('alert')).first().waitFor({ timeout: 60_000 })
      expect(await page.getByRole('main').getByRole('alert').allTextContents()).toEqual([])
      expect(await page.getByTestId('recipe-step').textContent()).toMatch(/^Step \d of 2: /)
      const done = page.getByTestId('recipe-done')
      await done.waitFor({ timeout: 150_000 })
      expect(await done.textContent()).toMatch(/Recipe finished: test accuracy \d+(\.\d+)?%/)
      await screenshotBoth(page, 'train-recipe-done', 'foundation-')
      expect(errors).toEqual([])
    } catch (err) {
      const file = join(SCREENSHOT_DIR, 'foundation-example-failure.png')
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined)
      throw Object.assign(err as Error, { message: `${(err as Error).message}\nPage errors: ${JSON.stringify(errors)}\nSee ${file}` })
    } finally {
      await context.close()
      rmSync(src, { recursive: true, force: true })
    }
  }, 360_000)

  it('refuses requests without the token, and with a foreign Origin or Host', async () => {
    const base = `http://127.0.0.1:${studio.port}`
    const call = (path: string, headers: Record<string, string> = {}) =>
      fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })
    const auth = { authorization: `Bearer ${studio.token}` }

    // Sanity: the same call with the token passes, so the refusals below are about the token/origin.
    const ok = await call('/api/projects/recent', auth)
    expect(ok.status).toBe(200)
    expect(Array.isArray(((await ok.json()) as { result: unknown }).result)).toBe(true)

    expect((await call('/api/projects/recent')).status).toBe(401)
    expect((await call('/api/projects/recent', { authorization: 'Bearer wrong-token' })).status).toBe(401)
    expect((await fetch(base + '/')).status).toBe(401)
    expect((await call('/api/projects/recent', { ...auth, origin: 'http://evil.example' })).status).toBe(403)
    // A rebinding attack reaches us with the attacker's host name in Host.
    const foreignHost = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const req = request({ host: '127.0.0.1', port: studio.port, path: '/api/projects/recent', method: 'POST', headers: { host: `evil.example:${studio.port}`, ...auth } }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end('{}')
      })
    })
    expect(foreignHost).toBeGreaterThanOrEqual(400)

    const ws = `ws://127.0.0.1:${studio.port}/events`
    const origin = `http://127.0.0.1:${studio.port}`
    expect(await tryWs(ws, { origin, cookie: `cs_token=${studio.token}` })).toBe('open')
    expect(await tryWs(ws, { origin })).toMatch(/^refused 4\d\d/)
    expect(await tryWs(ws, { origin: 'http://evil.example', cookie: `cs_token=${studio.token}` })).toMatch(/^refused 4\d\d/)
  })
})
