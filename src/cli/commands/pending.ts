import { AppError } from '../../shared/errors'
import { defineCommand, type Command } from '../command'

/** A command whose domain is not built yet: exits 1 saying so. */
export function pending(name: string, usage: string, summary: string): Command {
  return defineCommand({
    name,
    usage,
    summary,
    help: [],
    options: {},
    async run() {
      throw new AppError('NOT_IMPLEMENTED', `"${name}" is not implemented yet.`, 'Follow the project README for what is available in this version.')
    },
  })
}
