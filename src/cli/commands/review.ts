import { withOpenProject } from '../project'
import { defineCommand, needArg, noExtraArgs } from '../command'
import { table } from '../table'

export default defineCommand({
  name: 'review',
  usage: 'review <project> [--json]',
  summary: 'List probably mislabeled images, most suspect first (confident learning on out-of-sample predictions); --json: [{file, label, suggested, confidence}].',
  help: [],
  options: {},
  async run(pos, _v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    noExtraArgs(pos, 1, this)
    const { reviewDataset } = await import('../../main/services/review')
    const { useBestBackend } = await import('../../main/services/backend')
    const r = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      return reviewDataset(project.dir, { signal, onProgress: (p) => out.progress(p) })
    })
    const list = r.issues.map((i) => ({ file: i.file, label: i.label, suggested: i.suggested, confidence: i.confidence }))
    const head = `${r.issues.length} of ${r.reviewed} images are probably mislabeled (${r.folds}-fold heads on ${r.features}; out-of-sample accuracy ${(r.accuracy * 100).toFixed(1)}%, ${r.seconds.toFixed(1)} s).`
    const rows = [['file', 'label', 'p(label)', 'threshold', 'suggested', 'p(suggested)'], ...r.issues.map((i) => [i.file, i.label, i.confidence.toFixed(3), i.threshold.toFixed(3), i.suggested, i.suggestedProbability.toFixed(3)])]
    out.result(list, [head, ...(r.issues.length ? ['', ...table(rows)] : [])].join('\n'))
  },
})
