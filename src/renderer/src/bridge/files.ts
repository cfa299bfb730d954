/**
 * URLs of files the web bridge serves from a project's import cache (never the originals).
 * The token travels in the HttpOnly cookie, so plain <img src> works.
 */
export function thumbUrl(dir: string, id: number, size?: number): string {
  return `/files/thumb?dir=${encodeURIComponent(dir)}&id=${id}${size ? `&size=${size}` : ''}`
}
