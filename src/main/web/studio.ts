import { homedir } from 'node:os'
import { lstat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Dispatcher } from '../services/dispatch'
import { createHandlers } from '../services/handlers'
import { openProject } from '../services/projects'
import { thumbnail } from '../services/datasets'
import { useBestBackend } from '../services/backend'
import { readExportManifest } from '../services/ownership'
import { zipStream } from '../services/export/zip-writer'
import { AppError } from '../../shared/errors'
import { startWebServer, type WebServer } from './server'
import { UploadStaging } from './uploads'

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
    if (path === 'export.zip') return exportZip(dir, query.get('out'))
    const id = Number(query.get('id'))
    if (path !== 'thumb' || dir === null || !Number.isInteger(id) || id < 0) return null
    const size = Math.min(512, Math.max(16, Number(query.get('size')) || 96))
    return { body: await thumbnail(dir, id, size), type: 'image/png' }
  }
  // An export, downloaded as a zip (the browser studio's Export ends with it): only a folder the
  // app wrote (its export manifest, complete), only the files that manifest lists, and only for a
  // project opened in this session.
  const exportZip = async (dir: string | null, out: string | null) => {
    if (dir === null) throw new AppError('FORBIDDEN', 'Downloads are for projects opened in this session.', 'Open the project, then export again.')
    if (!out || out.includes('\0')) throw new AppError('INVALID_INPUT', 'Say which export folder to download (out=).')
    const folder = resolve(out)
    const manifest = await readExportManifest(folder)
    if (!manifest || manifest.state !== 'complete') throw new AppError('NOT_FOUND', `${folder} is not a finished export of Classifier Studio.`, 'Export again, then download.')
    const names: string[] = []
    for (const name of manifest.files) if ((await lstat(join(folder, name)).catch(() => null))?.isFile()) names.push(name)
    return { body: zipStream(names.map((name) => ({ name, path: join(folder, name) }))), type: 'application/zip', filename: `${basename(folder)}.zip`, cache: 'no-store' }
  }
  // A folder dropped or chosen in the browser: uploaded into a staging folder the app owns, then
  // imported from there by datasets.import (progress and cancel as for a typed path).
  const staging = new UploadStaging()
  const uploads = async (path: string, query: URLSearchParams, req: import('node:http').IncomingMessage) => {
    const project = dispatcher.openedPath(resolve(query.get('dir') ?? ''))
    if (project === null) throw new AppError('FORBIDDEN', 'Uploads go to a project opened in this session.', 'Open the project first, then drop the folder again.')
    const num = (k: string) => (query.has(k) ? Number(query.get(k)) : undefined)
    if (path === 'begin') return staging.begin(project, query.get('name'), { files: num('files'), bytes: num('bytes') })
    if (path === 'file') {
      const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
      return staging.put(query.get('id'), project, query.get('path'), req, Number.isFinite(length) ? length : undefined)
    }
    if (path === 'discard') return { removed: await staging.discard(query.get('id'), project) }
    throw new AppError('NOT_FOUND', `No upload step ${JSON.stringify(path.slice(0, 40))}.`, 'The steps are /upload/begin, /upload/file and /upload/discard.')
  }
  const server = await startWebServer({ dispatcher, staticDir: WEB_STATIC_DIR, port: opts.port, token: opts.token, files, uploads })
  const url = opts.project ? `${server.url}&project=${encodeURIComponent(resolve(opts.project))}` : server.url
  return {
    ...server,
    url,
    close: async () => {
      await server.close()
      await staging.close()
    },
  }
}
