import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron'
import type { Events } from '../shared/contract'
import { serializeError } from '../shared/errors'
import type { Dispatcher } from './services/dispatch'

/**
 * Binds the whole contract to two IPC channels, generically: every call is checked to come
 * from our own window's top frame and loaded page, then validated and dispatched.
 */
export function bindIpc(dispatcher: Dispatcher, window: () => BrowserWindow | null, isOwnUrl: (url: string) => boolean): void {
  const calls = new Map<string, AbortController>()
  const broadcast = <E extends keyof Events>(event: E, payload: Events[E]) => window()?.webContents.send('api:event', { event, payload })

  const trusted = (e: IpcMainInvokeEvent) => {
    const win = window()
    return !!win && e.sender === win.webContents && e.senderFrame === win.webContents.mainFrame && isOwnUrl(e.senderFrame.url)
  }

  ipcMain.handle('api:call', async (e, msg: { domain: string; name: string; args: unknown; callId: string }) => {
    if (!trusted(e)) return { ok: false, error: { name: 'AppError', code: 'FORBIDDEN', message: 'IPC call from an untrusted frame refused.' } }
    const ac = new AbortController()
    calls.set(msg.callId, ac)
    try {
      const result = await dispatcher.call(msg.domain, msg.name, msg.args, {
        signal: ac.signal,
        onProgress: (progress) => broadcast('progress', { callId: msg.callId, progress }),
        emit: broadcast,
      })
      return { ok: true, result }
    } catch (err) {
      return { ok: false, error: serializeError(err) }
    } finally {
      calls.delete(msg.callId)
    }
  })
  ipcMain.handle('api:cancel', (e, callId: string) => {
    if (trusted(e)) calls.get(callId)?.abort()
  })
}
