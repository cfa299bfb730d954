import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { createApi } from '../shared/client'
import type { EventName } from '../shared/contract'

// The renderer gets exactly one object, the typed contract; no ipcRenderer, no Node.
const api = createApi({
  invoke: (domain, name, args, callId) => ipcRenderer.invoke('api:call', { domain, name, args, callId }),
  cancel: (callId) => ipcRenderer.invoke('api:cancel', callId),
  on: (listener) => {
    const handler = (_e: IpcRendererEvent, msg: { event: EventName; payload: unknown }) => listener(msg.event, msg.payload)
    ipcRenderer.on('api:event', handler)
    return () => ipcRenderer.off('api:event', handler)
  },
})

contextBridge.exposeInMainWorld('api', api)
