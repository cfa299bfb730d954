import type { ProjectInfo } from '../shared/contract'

/**
 * Runs a command's work with the project open (and locked) in this process; Ctrl+C aborts the
 * work through its signal, and the lock is released however it ends.
 */
export async function withOpenProject<T>(dir: string, work: (project: ProjectInfo, signal: AbortSignal) => Promise<T>): Promise<T> {
  // Imported here, not at the top: `--help` and usage errors load no service (nor zod).
  const { closeProject, openProject } = await import('../main/services/projects')
  const project = await openProject(dir)
  const ac = new AbortController()
  const onSigint = () => {
    process.stderr.write('\nStopping… (press Ctrl+C again to force)\n')
    process.off('SIGINT', onSigint)
    ac.abort()
  }
  process.on('SIGINT', onSigint)
  try {
    return await work(project, ac.signal)
  } finally {
    process.off('SIGINT', onSigint)
    await closeProject(project.dir)
  }
}
