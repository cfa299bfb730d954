import { EXAMPLE_NAMES } from '../../shared/example-names'
import { defineCommand, needArg, noExtraArgs } from '../command'
import { UsageError } from '../output'

/** What the recipe changes when training will use the offline weights (the project was made for them). */
async function offlineNotes(example: string, offline: boolean): Promise<string[]> {
  if (!offline) return []
  const { getExample } = await import('../../shared/examples')
  return getExample(example)
    .stages.filter((s) => s.offlineWeights)
    .map((s) => `With the offline weights, "${s.title}" changes: ${s.offlineWeights!.why}.`)
}

export default defineCommand({
  name: 'new',
  usage: 'new <project-folder> [--name NAME] [--example NAME [--source PATH_OR_URL]] [--json]',
  summary: 'Create a new, empty project in a new (or empty) folder, or start from a tutorial example.',
  help: [
    '--name NAME          display name (default: the folder name)',
    `--example NAME       start from a tutorial: ${EXAMPLE_NAMES.join(', ')}`,
    '                     (fetches its public data set with progress and checksum, imports it, presets the recipe;',
    '                     then `classifier-studio train <project>` runs the tutorial\'s recipe)',
    '--source PATH|URL    the example\'s data from a local folder/file (read in place) or another URL',
  ],
  options: { name: { type: 'string' }, example: { type: 'string' }, source: { type: 'string' } },
  async run(pos, values, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    noExtraArgs(pos, 1, this)
    const example = values.example as string | undefined
    const name = values.name as string | undefined
    if (name !== undefined && (name.trim() === '' || name.length > 200))
      throw new UsageError(`--name expects a display name of 1 to 200 characters, got ${name.trim() === '' ? 'an empty one' : `${name.length} characters`}. Leave --name out to use the folder name.`)
    const { closeProject, createProject } = await import('../../main/services/projects')
    if (!example) {
      if (values.source) throw new UsageError('--source only applies with --example NAME.')
      const project = await createProject(dir, values.name as string | undefined)
      await closeProject(project.dir)
      return out.result(project, `Created project "${project.name}" in ${project.dir}`)
    }
    if (!(EXAMPLE_NAMES as readonly string[]).includes(example)) throw new UsageError(`Unknown example "${example}"; expected one of ${EXAMPLE_NAMES.join(', ')}.`)
    const { createExample } = await import('../../main/services/examples')
    const ac = new AbortController()
    process.once('SIGINT', () => ac.abort())
    const r = await createExample(dir, example, { source: values.source as string | undefined, name: values.name as string | undefined, signal: ac.signal, onProgress: (p) => out.progress(p) })
    await closeProject(r.project.dir)
    const last = r.imports[r.imports.length - 1]
    const counts = `${r.imports.reduce((a, i) => a + i.total, 0)} images in ${last.classes.length} classes (train ${last.splits.train}, validation ${last.splits.validation}, test ${last.splits.test})`
    out.result(
      { ...r.project, example: r.example, imports: r.imports.map((i) => ({ total: i.total, classes: i.classes, splits: i.splits, skipped: i.skipped.length })) },
      [`Created example project "${r.project.name}" in ${r.project.dir}: ${counts}.`, ...(r.example.inputSize ? [`Images at ${r.example.inputSize.size}x${r.example.inputSize.size}, not the tutorial's size: ${r.example.inputSize.why}.`] : []), `Recipe: ${r.example.stages.map((s) => s.title).join(' → ')}.`, ...(await offlineNotes(example, !!r.example.inputSize)), `Next: classifier-studio train ${r.project.dir}`].join('\n'),
    )
  },
})
