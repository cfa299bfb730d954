import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Locator, Page } from 'playwright-core'

/**
 * A generated class-folder dataset: class i is a shape (circle, square, triangle in turn) in its
 * own hue, at a random place on a noisy light background. Enough for a real model to tell them
 * apart, for any number of classes.
 */
export async function writeClassesDataset(dir: string, classes: string[], perClass: number, side = 64, seed = 7): Promise<void> {
  let state = seed
  const rnd = () => (state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32
  for (const [i, cls] of classes.entries()) {
    mkdirSync(join(dir, cls), { recursive: true })
    const hue = Math.round((i * 360) / classes.length)
    for (let k = 0; k < perClass; k++) {
      const s = Math.round(side * (0.3 + rnd() * 0.25))
      const x = Math.round(rnd() * (side - s))
      const y = Math.round(rnd() * (side - s))
      const bg = `rgb(${225 + Math.floor(rnd() * 30)},${225 + Math.floor(rnd() * 30)},${225 + Math.floor(rnd() * 30)})`
      const fill = `hsl(${hue},75%,45%)`
      const shape =
        i % 3 === 0
          ? `<circle cx="${x + s / 2}" cy="${y + s / 2}" r="${s / 2}" fill="${fill}"/>`
          : i % 3 === 1
            ? `<rect x="${x}" y="${y}" width="${s}" height="${s}" fill="${fill}"/>`
            : `<polygon points="${x + s / 2},${y} ${x + s},${y + s} ${x},${y + s}" fill="${fill}"/>`
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}"><rect width="${side}" height="${side}" fill="${bg}"/>${shape}</svg>`
      await sharp(Buffer.from(svg)).png().toFile(join(dir, cls, `${cls}-${k}.png`))
    }
  }
}

/** The studio's HTTP API from Node, with the session token (the same dispatcher the page uses). */
export function apiClient(port: number, token: string) {
  return async function call<T = unknown>(method: string, args: unknown): Promise<T> {
    const r = await fetch(`http://127.0.0.1:${port}/api/${method.replace('.', '/')}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(args) })
    const body = (await r.json()) as { result?: T; error?: { code: string; message: string } }
    if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`)
    return body.result as T
  }
}

/**
 * Elements inside `container` whose box sticks out of it (by more than 1 px), described as
 * "tag.class 'text' by N px": what a user sees spill out of a card.
 */
export function spills(container: Locator): Promise<string[]> {
  return container.evaluate((root: any) => {
    const getComputedStyle = (globalThis as any).getComputedStyle as (el: unknown) => { overflowX: string; textOverflow: string }
    const box = root.getBoundingClientRect()
    const out: string[] = []
    for (const el of Array.from(root.querySelectorAll('*')) as any[]) {
      const r = el.getBoundingClientRect()
      if (r.width === 0 || r.height === 0) continue
      const over = Math.max(r.right - box.right, box.left - r.left)
      if (over > 1) out.push(`${el.tagName.toLowerCase()}.${(el.getAttribute('class') ?? '').replace(/\s+/g, '.')} '${(el.textContent ?? '').trim().slice(0, 30)}' by ${Math.round(over)} px`)
    }
    // A scroller (or clipper) inside the card hides the spill from boxes: count its hidden width
    // too. A deliberate ellipsis (a long folder path) is not a spill.
    for (const el of [root, ...Array.from(root.querySelectorAll('*'))] as any[]) {
      const cs = getComputedStyle(el)
      if (cs.textOverflow === 'ellipsis') continue
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 && /auto|scroll|hidden/.test(cs.overflowX) && el.tagName !== 'SELECT' && el.tagName !== 'INPUT')
        out.push(`${el.tagName.toLowerCase()}.${(el.getAttribute('class') ?? '').replace(/\s+/g, '.')} scrolls ${el.scrollWidth - el.clientWidth} px sideways`)
    }
    return out
  })
}

/** Buttons inside `container` whose label wraps onto a second line (or is cut off). */
export function wrappedButtons(container: Locator): Promise<string[]> {
  return container.evaluate((root: any) =>
    (Array.from(root.querySelectorAll('button')) as any[])
      .filter((b) => {
        const r = b.getBoundingClientRect()
        if (r.width === 0) return false
        const range = (globalThis as any).document.createRange()
        range.selectNodeContents(b)
        const lines = new Set((Array.from(range.getClientRects()) as any[]).map((x) => Math.round(x.top)))
        return lines.size > 1 || b.scrollHeight > b.clientHeight + 1 || b.scrollWidth > b.clientWidth + 1
      })
      .map((b) => (b.textContent ?? '').trim()),
  )
}

/**
 * True when the element is on screen: its top inside the viewport and, when it fits, its
 * bottom too (what scrolling to it must achieve).
 */
export function inView(el: Locator): Promise<boolean> {
  return el.evaluate((e: any) => {
    const r = e.getBoundingClientRect()
    const h = (globalThis as any).innerHeight as number
    return r.top >= -1 && r.top < h - 20 && (r.height > h || r.bottom <= h + 1)
  })
}

export async function openProject(page: Page, url: string, dir: string, view: string): Promise<void> {
  await page.goto(`${url}&project=${encodeURIComponent(dir)}#/${view}`)
}
