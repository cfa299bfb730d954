/**
 * URLs of files the web bridge serves from a project's import cache (never the originals).
 * The token travels in the HttpOnly cookie, so plain <img src> works.
 */
export function thumbUrl(dir: string, id: number, size?: number): string {
  return `/files/thumb?dir=${encodeURIComponent(dir)}&id=${id}${size ? `&size=${size}` : ''}`
}

/** The zip of a finished export folder on the studio's computer (browser studio only). */
export function exportZipUrl(dir: string, out: string): string {
  return `/files/export.zip?dir=${encodeURIComponent(dir)}&out=${encodeURIComponent(out)}`
}

/** Starts a browser download of `url` (a same-origin link with the download attribute, clicked). */
export function startDownload(url: string): void {
  type Link = { href: string; download: string; rel: string; click(): void; remove(): void }
  const doc = (globalThis as { document?: { createElement(tag: 'a'): Link; body: { appendChild(el: Link): unknown } } }).document
  if (!doc) return
  const a = doc.createElement('a')
  a.href = url
  a.download = ''
  a.rel = 'noopener'
  doc.body.appendChild(a)
  a.click()
  a.remove()
}
