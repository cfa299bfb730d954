import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { projectInfo } from '../../main/services/projects'
import { defineCommand, needArg } from '../command'

export default defineCommand({
  name: 'summary',
  usage: 'summary <project> [--json]',
  summary: "Show a project's state: its settings, dataset, model and training runs.",
  help: [],
  options: {},
  async run(pos, _values, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    const project = await projectInfo(dir)
    const runs = (await readdir(join(project.dir, 'runs')).catch(() => [] as string[])).filter((r) => !r.startsWith('.'))
    const result = { project: { name: project.name, dir: project.dir, settings: project.settings }, dataset: { total: 0, classes: [] as string[] }, model: null, runs: runs.length }
    out.result(result, [`Project "${project.name}" (${project.dir})`, `  input ${project.settings.inputSize}px, resize ${project.settings.resizeMode}`, `  dataset: empty`, `  model: none chosen`, `  runs: ${runs.length}`].join('\n'))
  },
})
