import type { Api } from '../shared/contract'

declare global {
  interface Window {
    /** Present in Electron (from the preload); the browser studio uses the web client instead. */
    api?: Api
  }
}
export {}
