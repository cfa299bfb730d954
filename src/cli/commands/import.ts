import { resolve } from 'node:path'
import { withOpenProject } from '../project'
import { choice, defineCommand, needArg, noExtraArgs, num } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'import',
  usage: 'import <project> <source> [--size N] [--resize squash|crop|pad] [--val 0.2] [--test 0] [--seed S] [--split train|validation|test] [--json]',
  summary: 'Import images: a folder per class (optionally under train/ validation/ test/), Fashion-MNIST IDX files, or a CSV of pixels.',
  help: [
    '--size N             square input size in pixels (first import only; default 224, or the dataset\'s own size for IDX/CSV)',
    '--resize MODE        squash (Keras default) | crop (center crop) | pad (letterbox); first import only',
    '--background #RRGGBB fill colour for pad and transparent pixels (default #ffffff)',
    '--val F              share of each class held out for validation when the source has no split (default 0.2)',
    '--test F             share held out for test when the source has no split (default 0)',
    '--seed S             seed of the stratified split (default 42)',
    '--split NAME         put everything from <source> into one split (e.g. a separate test CSV)',
  ],
  options: { size: { type: 'string' }, resize: { type: 'string' }, background: { type: 'string' }, val: { type: 'string' }, test: { type: 'string' }, seed: { type: 'string' }, split: { type: 'string' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    const source = resolve(needArg(pos, 1, 'the source folder or file', this))
    noExtraArgs(pos, 2, this)
    const { ResizeMode, Split } = await import('../../shared/project')
    const resize = choice(v.resize, '--resize', ResizeMode.options)
    const split = choice(v.split, '--split', Split.options)
    const background = v.background as string | undefined
    if (background !== undefined && !/^#[0-9a-fA-F]{6}$/.test(background))
      throw new UsageError(`--background expects a colour written #RRGGBB (e.g. #ffffff for white, #000000 for black), got "${background}".`)
    const options = {
      size: num(v.size, '--size', { min: 8, max: 1024, int: true, example: '224' }),
      resize,
      background,
      val: num(v.val, '--val', { min: 0, max: 0.9, example: '0.2' }),
      test: num(v.test, '--test', { min: 0, max: 0.9, example: '0.1' }),
      seed: num(v.seed, '--seed', { int: true, example: '42' }),
      split,
    }
    if ((options.val ?? 0.2) + (options.test ?? 0) >= 1)
      throw new UsageError(`--val ${options.val ?? 0.2} and --test ${options.test ?? 0} leave no images for training: their sum must be below 1 (e.g. --val 0.2 --test 0.1).`)
    const { importDataset } = await import('../../main/services/datasets')
    const summary = await withOpenProject(dir, (project, signal) =>
      importDataset(project.dir, source, options, { signal, onProgress: (p) => out.progress({ phase: p.phase, done: p.done, total: p.total, rate: p.rate, etaSeconds: p.etaSeconds ?? undefined }) }),
    )
    const known = summary.skipped.filter((s) => s.reason.startsWith('already in the project')).length
    const lines = [
      summary.added === 0
        ? `Nothing new in ${source}: ${summary.unchanged ? `its ${summary.unchanged} image(s) are unchanged since the last import` : ''}${summary.unchanged && known ? ' and ' : ''}${known ? `${known} image(s) have the same content as images already in the project` : ''}; the dataset is as it was (${summary.seconds.toFixed(1)} s).`
        : `Imported ${summary.total} image(s) from ${source} (${summary.added} new, ${summary.unchanged} unchanged) in ${summary.seconds.toFixed(1)} s.`,
      `Classes: ${summary.classes.map((c) => `${c.name} (${c.count})`).join(', ')}`,
      `Splits: train ${summary.splits.train}, validation ${summary.splits.validation}, test ${summary.splits.test}`,
      ...(summary.skipped.length ? [`Skipped ${summary.skipped.length} file(s):`, ...summary.skipped.slice(0, 20).map((s) => `  ${s.path}: ${s.reason}`), ...(summary.skipped.length > 20 ? [`  … and ${summary.skipped.length - 20} more (see --json)`] : [])] : []),
      ...summary.health.warnings.map((w) => `Warning: ${w}`),
    ]
    out.result(summary, lines.join('\n'))
  },
})
