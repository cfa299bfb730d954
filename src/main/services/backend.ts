import { initBackend, type BackendInfo, type BackendPreference } from '../ml/backend'

/**
 * Picks the fastest TF.js backend for ML work done in this process (evaluation, prediction,
 * export parity); training picks its own in its worker. CLASSIFIER_STUDIO_BACKEND overrides.
 */
export function useBestBackend(): Promise<BackendInfo> {
  return initBackend((process.env.CLASSIFIER_STUDIO_BACKEND as BackendPreference | undefined) ?? 'auto')
}
