import { writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { withOpenProject } from '../project'
import { defineCommand, needArg, num, outputFile } from '../command'

export default defineCommand({
  name: 'predict',
  usage: 'predict <project> <files-or-folders...> [--top K] [--threshold P] [--run ID] [--uncalibrated] [--csv FILE] [--json]',
  summary: "Predict the class of image files or whole folders (recursive), with the project's exact preprocessing.",
  help: [
    '--top K              how many classes to list per image (default 3)',
    '--threshold P        below this top-1 probability the answer is "unknown" (0..1)',
    '--run ID             the run to use (default: the latest run, its best checkpoint)',
    '--uncalibrated       the model\'s own probabilities, without the run\'s temperature scaling',
    '--csv FILE           also write the results as CSV',
  ],
  options: { top: { type: 'string' }, threshold: { type: 'string' }, run: { type: 'string' }, uncalibrated: { type: 'boolean' }, csv: { type: 'string' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    needArg(pos, 1, 'at least one image file or folder', this)
    const inputs = pos.slice(1).map((p) => resolve(p))
    const top = num(v.top, '--top', { min: 1, int: true, example: '3' })
    const threshold = num(v.threshold, '--threshold', { min: 0, max: 1, example: '0.5' })
    const csv = outputFile(v.csv, '--csv', 'predictions.csv')
    const { predict, toPredictionsCsv } = await import('../../main/services/evaluation')
    const { useBestBackend } = await import('../../main/services/backend')
    const results = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      return predict(project.dir, inputs, { top, threshold, runId: v.run as string | undefined, calibrated: !v.uncalibrated }, { signal, onProgress: (p) => out.progress(p) })
    })
    if (csv) await writeFile(csv, toPredictionsCsv(results))
    const text = results.map((r) => (r.error ? `${r.file}: error: ${r.error}` : `${r.file}: ${r.label} (${(r.confidence * 100).toFixed(1)}%)  ${r.top.map((t) => `${t.label} ${(t.probability * 100).toFixed(1)}%`).join(', ')}`))
    out.result(results, text.join('\n') || 'No images found.')
    return results.length > 0 && results.every((r) => r.error) ? 1 : 0
  },
})
