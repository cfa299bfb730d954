import { withOpenProject } from '../project'
import { defineCommand, needArg } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'export',
  usage: 'export <project> --format tfjs|h5|onnx --out DIR [--run ID] [--overwrite] [--json]',
  summary: 'Export a trained model and check that it predicts exactly like the app (parity report).',
  help: [
    '--format F           tfjs (model.json + shards) | h5 (Keras) | onnx (opset 13, preprocessing folded in)',
    '--out DIR            destination folder: new, empty, or an earlier export with --overwrite; inside a',
    '                     project only <project>/exports/<name> (e.g. <project>/exports/onnx)',
    '--run ID             the run to export (default: the latest run, its best checkpoint)',
    '--overwrite          replace an earlier export of Classifier Studio in --out (never a project or a',
    '                     folder holding other files)',
  ],
  options: { format: { type: 'string' }, out: { type: 'string' }, run: { type: 'string' }, overwrite: { type: 'boolean' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    const { ExportFormat } = await import('../../shared/export')
    const format = ExportFormat.safeParse(v.format)
    if (!format.success) throw new UsageError(`--format expects tfjs, h5 or onnx${v.format === undefined ? '' : `, got "${String(v.format)}"`}.\nUsage: classifier-studio ${this.usage}`)
    if (!v.out) throw new UsageError(`--out DIR is required.\nUsage: classifier-studio ${this.usage}`)
    // The destination rule first (the service checks it again): a refused --out answers at once.
    const { checkExportDestination } = await import('../../main/services/ownership')
    await checkExportDestination(String(v.out), !!v.overwrite)
    const { exportModel } = await import('../../main/services/export')
    const { useBestBackend } = await import('../../main/services/backend')
    const result = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      return exportModel(project.dir, { format: format.data, out: String(v.out), runId: v.run as string | undefined, overwrite: !!v.overwrite }, { signal, onProgress: (p) => out.progress(p) })
    })
    const p = result.parity
    out.result(result, [`Exported ${result.format} to ${v.out}:`, ...result.files.map((f) => `  ${f}`), `Parity ${p.passed ? 'PASSED' : 'FAILED: the exported model predicts differently from the app'}: ${p.images} images, max abs difference ${p.maxAbsDiff.toExponential(2)}, label agreement ${(p.labelAgreement * 100).toFixed(1)}%`, ...(p.warning ? [p.warning] : [])].join('\n'))
    return p.passed ? 0 : 1
  },
})
