import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { chromiumMissing, ensureWebBuild, launchBrowser, newPage, SCREENSHOT_DIR } from './browser'
import { ProjectsPage } from './pages/studio'

describe.skipIf(chromiumMissing())('choosing where a new project lives (chromium)', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let browser: Browser
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME

  beforeAll(async () => {
    ensureWebBuild()
    root = mkdtempSync(join(tmpdir(), 'cs-location-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    browser = await launchBrowser()
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  it('creates the project in a typed location, and refuses a location inside another project where the user looks', async () => {
    const { context, page, errors } = await newPage(browser)
    try {
      await page.goto(studio.url)
      const projects = new ProjectsPage(page)
      const elsewhere = join(root, 'elsewhere', 'deeper')
      await page.getByLabel('Folder the new project goes in').fill(elsewhere)
      await projects.create('Birds')
      await page.getByRole('heading', { level: 1, name: 'Data' }).waitFor()
      expect(existsSync(join(elsewhere, 'Birds', 'project.json'))).toBe(true)
      expect(existsSync(join(root, 'workspace', 'Birds'))).toBe(false)

      await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Projects' }).click()
      await page.getByLabel('Folder the new project goes in').fill(join(elsewhere, 'Birds'))
      await projects.create('Nested')
      const form = page.locator('form').filter({ has: page.getByLabel('New project name') })
      await expect.poll(() => form.textContent()).toMatch(/inside the project .*Birds.*never goes inside another one/)
      await expect.poll(() => form.textContent()).toMatch(/Choose a location outside any project/)
      expect(existsSync(join(elsewhere, 'Birds', 'Nested'))).toBe(false)
      await page.screenshot({ path: join(SCREENSHOT_DIR, 'project-location-refused-light.png') })
      expect(errors).toEqual([])
    } finally {
      await context.close()
    }
  })
})
