import { AppError } from '../../../shared/errors'

/** A model spec that cannot be built: says which layer, what is wrong, and how to fix it. */
export function invalidModel(message: string, hint?: string): AppError {
  return new AppError('INVALID_INPUT', message, hint)
}
