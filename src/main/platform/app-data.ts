import { homedir } from 'node:os'
import { join } from 'node:path'

/** The per-user folder for settings, the recent list and the weights cache. */
export function appDataDir(): string {
  const override = process.env.CLASSIFIER_STUDIO_HOME
  if (override) return override
  const home = homedir()
  if (process.platform === 'win32') return join(process.env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'Classifier Studio')
  if (process.platform === 'darwin') return join(home, 'Library', 'Application Support', 'Classifier Studio')
  return join(process.env.XDG_CONFIG_HOME ?? join(home, '.config'), 'classifier-studio')
}
