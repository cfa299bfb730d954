import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Dispatcher } from '../services/dispatch'
import { createHandlers } from '../services/handlers'
import { openProject } from '../services/projects'
import { thumbnail } from '../services/datasets'
import { useBestBackend } from '../services/backend'
import { startWebServer, type WebServer } from './server'

/** Where `npm run build:web` puts the renderer for the browser. */
export const WEB_STATIC_DIR = fileURLToPath(new URL('../../../out/web', import.meta.url))

export interface StudioOptions {
  port?: number
  project?: string
  token?: string
  workspaceDir?: string
}

/** The web studio: the services behind the contract, served with the built renderer. */
export async function startStudio(opts: StudioOptions = {}): Promise<WebServer> {
  const workspaceDir = opts.workspaceDir ?? process.env.CLASSIFIER_STUDIO_WORKSPACE ?? join(homedir(), 'Classifier Studio Projects')
  await useBestBackend()
  const dispatcher = new Dispatcher(createHandlers({ shell: 'web', workspaceDir }))
  if (opts.project) {
    await openProject(opts.project)
    dispatcher.allow(resolve(opts.project))
  }
  // Thumbnails come from the import cache (what the model sees), never from the originals,
  // and only for projects opened in this session.
  const files = async (path: string, query: URLSearchParams) => {
    const dir = dispatcher.openedPath(resolve(query.get('dir') ?? '')) // any spelling of an opened project
    const id = Number(query.get('id'))
    if (path !== 'thumb' || dir === null || !Number.isInteger(id) || id < 0) return null
    const size = Math.min(512, Math.max(16, Number(query.get('size')) || 96))
    return { body: await thumbnail(dir, id, size), type: 'image/png' }
  }
  const server = await startWebServer({ dispatcher, staticDir: WEB_STATIC_DIR, port: opts.port, token: opts.token, files })
  const url = opts.project ? `${server.url}&project=${encodeURIComponent(resolve(opts.project))}` : server.url
  return { ...server, url }
}
