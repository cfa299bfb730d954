import { closeProject, createProject } from '../../main/services/projects'
import { defineCommand, needArg } from '../command'

export default defineCommand({
  name: 'new',
  usage: 'new <project-folder> [--name NAME] [--json]',
  summary: 'Create a new, empty project in a new (or empty) folder.',
  help: ['--name NAME          display name (default: the folder name)'],
  options: { name: { type: 'string' } },
  async run(pos, values, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    const project = await createProject(dir, values.name as string | undefined)
    await closeProject(project.dir)
    out.result(project, `Created project "${project.name}" in ${project.dir}`)
  },
})
