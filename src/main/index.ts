import { app, BrowserWindow, dialog, session, shell } from 'electron'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { bindIpc } from './ipc'
import { Dispatcher } from './services/dispatch'
import { createHandlers } from './services/handlers'
import { setTrainerSpawner } from './services/training'
import { useBestBackend } from './services/backend'
import { spawnUtilityTrainer } from './utility-trainer'

// Composition root: security, services, window. Everything else lives in services/.
let win: BrowserWindow | null = null
const rendererUrl = process.env.ELECTRON_RENDERER_URL
const isOwnUrl = (url: string) => (rendererUrl ? url.startsWith(rendererUrl) : url.startsWith('file://'))

function initializeSecurity(): void {
  app.on('web-contents-created', (_e, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isOwnUrl(url)) event.preventDefault()
    })
    contents.setWindowOpenHandler(({ url }) => {
      if (url.startsWith('https://')) void shell.openExternal(url)
      return { action: 'deny' }
    })
  })
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, done) => done(false))
}

function initializeServices(): void {
  setTrainerSpawner(spawnUtilityTrainer)
  void useBestBackend()
  const chooseFolder = async () => {
    const options = { properties: ['openDirectory' as const] }
    const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options)
    return r.canceled ? null : (r.filePaths[0] ?? null)
  }
  const dispatcher = new Dispatcher(createHandlers({ shell: 'electron', workspaceDir: join(homedir(), 'Classifier Studio Projects'), chooseFolder }))
  bindIpc(dispatcher, () => win, isOwnUrl)
}

function createWindow(): void {
  win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 1024,
    minHeight: 700,
    title: 'Classifier Studio',
    icon: join(__dirname, '../../resources/icon.png'),
    webPreferences: {
      preload: join(__dirname, '../preload/index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  })
  win.on('closed', () => (win = null))
  if (rendererUrl) void win.loadURL(rendererUrl)
  else void win.loadFile(join(__dirname, '../renderer/index.html'))
}

void app.whenReady().then(() => {
  initializeSecurity()
  initializeServices()
  createWindow()
  app.on('activate', () => BrowserWindow.getAllWindows().length === 0 && createWindow())
})
app.on('window-all-closed', () => process.platform !== 'darwin' && app.quit())
