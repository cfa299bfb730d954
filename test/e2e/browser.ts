import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ensureWebUi } from '../../src/cli/web-ui'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SCREENSHOT_DIR = join(ROOT, 'test/e2e/screenshots')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Why the e2e tests cannot run here, or null when chromium is present. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH).`
}

/** Builds the web studio into out/web when it is missing or older than its sources (npm test builds it first). */
export function ensureWebBuild(): void {
  ensureWebUi({ root: ROOT, log: (line) => console.log(line) })
}

/** One headless Debian chromium per test file. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

export type Scheme = 'light' | 'dark'

/** A page in a fresh context of the desktop size the UI targets; page errors fail loudly. */
export async function newPage(browser: Browser, scheme: Scheme = 'light', viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport, colorScheme: scheme, acceptDownloads: true })
  const page = await context.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text())
  })
  return { context, page, errors }
}

/** Saves test/e2e/screenshots/<name>-<scheme>.png in both colour schemes, restoring light. */
export async function screenshotBoth(page: Page, name: string, prefix = ''): Promise<string[]> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  const out: string[] = []
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    await page.waitForTimeout(120)
    const file = join(SCREENSHOT_DIR, `${prefix}${name}-${scheme}.png`)
    await page.screenshot({ path: file })
    out.push(file)
  }
  await page.emulateMedia({ colorScheme: 'light' })
  return out
}
