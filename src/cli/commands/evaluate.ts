import { writeFile } from 'node:fs/promises'
import { EvalSplit } from '../../shared/evaluation'
import { withOpenProject } from '../project'
import { defineCommand, needArg, noExtraArgs, num, outputFile } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'evaluate',
  usage: 'evaluate <project> [--split validation|test] [--run ID] [--csv FILE] [--json]',
  summary: "Evaluate a trained run: accuracy, loss, confusion matrix and scikit-learn's classification report.",
  help: [
    '--split NAME         validation (default) | test',
    '--run ID             the run to evaluate (default: the latest run, its best checkpoint)',
    '--digits N           digits in the text report (default 2)',
    '--csv FILE           also write the classification report as CSV',
  ],
  options: { split: { type: 'string' }, run: { type: 'string' }, digits: { type: 'string' }, csv: { type: 'string' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    noExtraArgs(pos, 1, this)
    const split = EvalSplit.safeParse(v.split ?? 'validation')
    if (!split.success) throw new UsageError(`--split expects validation or test, got "${String(v.split)}".`)
    const digits = num(v.digits, '--digits', { min: 0, max: 17, int: true, example: '4' })
    const csv = outputFile(v.csv, '--csv')
    const { evaluate, evaluationSummary, reportToCsv } = await import('../../main/services/evaluation')
    const { useBestBackend } = await import('../../main/services/backend')
    const ev = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      return evaluate(project.dir, { split: split.data, runId: v.run as string | undefined, digits, force: true }, { signal, onProgress: (p) => out.progress(p) })
    })
    if (csv) await writeFile(csv, reportToCsv(ev.report))
    const warnings = ev.warnings.map((w) => `Warning: ${w}`)
    out.result(evaluationSummary(ev), [`Run ${ev.runId}, ${ev.split} split: accuracy ${(ev.accuracy * 100).toFixed(2)}%, loss ${ev.loss.toFixed(4)}`, '', ev.reportText, ...warnings].join('\n'))
  },
})
