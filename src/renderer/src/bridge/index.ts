import type { Api } from '../../../shared/contract'
import { createApi } from '../../../shared/client'
import { webTransport } from './web-transport'

let api: Api | null = null

/** The one way stores reach the main side: Electron's preload api, or the web bridge. */
export function useApi(): Api {
  api ??= (globalThis as { api?: Api }).api ?? createApi(webTransport())
  return api as Api
}

/** Tests swap in a fake bridge. */
export function setApi(fake: Api | null): void {
  api = fake
}

export { exportZipUrl, startDownload, thumbUrl } from './files'
