import { writeFile } from 'node:fs/promises'
import { withOpenProject } from '../project'
import { defineCommand, needArg, noExtraArgs, num, outputFile } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'evaluate',
  usage: 'evaluate <project> [--split validation|test] [--run ID] [--calibration] [--uncalibrated] [--csv FILE] [--json]',
  summary: "Evaluate a trained run: accuracy, loss, confusion matrix, scikit-learn's classification report and calibration.",
  help: [
    '--split NAME         validation (default) | test',
    '--run ID             the run to evaluate (default: the latest run, its best checkpoint)',
    '--digits N           digits in the text report (default 2)',
    '--calibration        the reliability table too (JSON: calibration.before/after bins); fits the',
    '                     temperature on validation first when the run has none (runs before it existed)',
    '--uncalibrated       report the probabilities without the run\'s temperature',
    '--csv FILE           also write the classification report as CSV',
  ],
  options: { split: { type: 'string' }, run: { type: 'string' }, digits: { type: 'string' }, calibration: { type: 'boolean' }, uncalibrated: { type: 'boolean' }, csv: { type: 'string' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    noExtraArgs(pos, 1, this)
    const { EvalSplit } = await import('../../shared/evaluation')
    const split = EvalSplit.safeParse(v.split ?? 'validation')
    if (!split.success) throw new UsageError(`--split expects validation or test, got "${String(v.split)}".`)
    const digits = num(v.digits, '--digits', { min: 0, max: 17, int: true, example: '4' })
    const csv = outputFile(v.csv, '--csv')
    const bins = !!v.calibration
    const { evaluate, evaluationSummary, reportToCsv, loadEvaluationRun } = await import('../../main/services/evaluation')
    const { calibrateRun } = await import('../../main/services/evaluation/calibrate-run')
    const { formatCalibration } = await import('../../main/services/calibration/format')
    const { useBestBackend } = await import('../../main/services/backend')
    const ev = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      if (bins) {
        const run = await loadEvaluationRun(project.dir, v.run as string | undefined)
        run.model.dispose()
        if (run.temperature == null && run.runId) {
          const fitted = await calibrateRun(project.dir, run.runId, { signal })
          out.log(fitted ? `Fitted the temperature on ${fitted.images} validation images: ${fitted.temperature.toFixed(3)} (stored with run ${run.runId}).` : 'No temperature fitted: the project has no validation images to fit it on (import some with --val, then evaluate --calibration again).')
        }
      }
      return evaluate(project.dir, { split: split.data, runId: v.run as string | undefined, digits, force: true, calibrated: !v.uncalibrated }, { signal, onProgress: (p) => out.progress(p) })
    })
    if (csv) await writeFile(csv, reportToCsv(ev.report))
    const warnings = ev.warnings.map((w) => `Warning: ${w}`)
    const calibration = ev.calibration ? ['', formatCalibration(ev.calibration, ev.split, bins)] : []
    out.result(evaluationSummary(ev, { bins }), [`Run ${ev.runId}, ${ev.split} split: accuracy ${(ev.accuracy * 100).toFixed(2)}%, loss ${ev.loss.toFixed(4)}`, '', ev.reportText, ...warnings, ...calibration].join('\n'))
  },
})
