import type { TrainOptionsInput } from '../../shared/training'
import { withOpenProject } from '../project'
import { defineCommand, needArg, noExtraArgs } from '../command'
import { RECIPE_FLAGS, trainOptions } from '../train-options'
import { UsageError } from '../output'

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`)

export default defineCommand({
  name: 'job',
  usage: 'job export <project> --out DIR [train flags] [--overwrite] [--json] | job import <project> <DIR> [--json]',
  summary: 'Train on a cluster: export a PyTorch distributed (torchrun) job, and import its trained model back as a run.',
  help: [
    'export <project>     write a self-contained torchrun job (python3 + torch + numpy) into --out DIR',
    'import <project> DIR bring a finished job back as a run (refused unless PyTorch and the app agree to 1e-4)',
    '--out DIR            export: new or empty folder (or an earlier job with --overwrite); inside a project only',
    '                     <project>/exports/<name>',
    '--overwrite          export: replace an earlier job that has not run (never a folder with other files)',
    'Training flags, as for `train` (export): --recipe transfer|finetune|cnn, --base, --model, --epochs,',
    '--batch (per worker), --lr, --optimizer, --fine-tune-from, --augment, --early-stop, --reduce-lr,',
    '--label-smoothing, --class-weights, --base-weights, --from-run, --seed',
  ],
  options: {
    out: { type: 'string' },
    overwrite: { type: 'boolean' },
    ...RECIPE_FLAGS,
    'from-run': { type: 'string' },
  },
  async run(pos, v, out) {
    const action = pos[0]
    if (action !== 'export' && action !== 'import') throw new UsageError(`${action ? `Unknown action "${action}"` : 'Which action?'}: use \`job export <project> --out DIR\` or \`job import <project> <DIR>\`.\nUsage: classifier-studio ${this.usage}`)
    const dir = needArg(pos, 1, 'the project folder', this)
    if (action === 'export') {
      noExtraArgs(pos, 2, this)
      if (!v.out) throw new UsageError(`--out DIR is required: the folder to write the job into.\nUsage: classifier-studio ${this.usage}`)
      const options = await trainOptions(v)
      const { checkExportDestination } = await import('../../main/services/ownership')
      await checkExportDestination(String(v.out), !!v.overwrite)
      const { exportJob } = await import('../../main/services/cluster/export-job')
      const r = await withOpenProject(dir, (project) =>
        exportJob(project.dir, options as TrainOptionsInput, { out: String(v.out), overwrite: !!v.overwrite, log: (m) => out.log(m), onProgress: (p) => out.progress({ phase: p.phase, done: p.done, total: p.total }) }),
      )
      return out.result(
        { dir: r.dir, files: r.files, command: r.command, jobId: r.jobId, recipe: r.recipe, epochs: r.epochs, images: r.images },
        [`Job written to ${r.dir} (${r.files.length} files; ${r.images.train} training and ${r.images.validation} validation images, ${r.recipe}, ${r.epochs} epochs).`, 'Run it (README.md there has multi-node, Slurm and Kubeflow lines):', `  ${r.command}`, `Then bring it back: classifier-studio job import ${dir} ${r.dir}`].join('\n'),
      )
    }
    const jobDir = needArg(pos, 2, 'the job folder', this)
    noExtraArgs(pos, 3, this)
    const given = Object.keys(v).filter((k) => v[k] !== undefined && !['json', 'help'].includes(k))
    if (given.length) throw new UsageError(`job import takes no training flags (the job's own settings are used): remove ${given.map((k) => `--${k}`).join(', ')}.\nUsage: classifier-studio ${this.usage}`)
    const { importJob } = await import('../../main/services/cluster/import-job')
    const { useBestBackend } = await import('../../main/services/backend')
    const r = await withOpenProject(dir, async (project) => {
      await useBestBackend()
      return importJob(project.dir, jobDir, { log: (m) => out.log(m) })
    })
    return out.result(r, [`Imported job as run ${r.runId}: trained by torchrun on ${r.workers} worker(s) (${r.device}), ${r.epochs.length} epochs.`, `Best epoch ${r.best.epoch}: val_accuracy ${pct(r.best.valAccuracy)}`, `Parity PASSED: ${r.parity.images} validation images, max abs difference ${r.parity.maxAbsDiff.toExponential(2)}, label agreement ${(r.parity.labelAgreement * 100).toFixed(1)}%`].join('\n'))
  },
})
