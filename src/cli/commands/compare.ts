import type { ChangedImage, ComparedRun, CompareResult } from '../../shared/compare'
import { withOpenProject } from '../project'
import { defineCommand, needArg, noExtraArgs } from '../command'
import { table } from '../table'
import { UsageError } from '../output'

/** How many changed images the text output lists. */
const SHOWN = 10

const pct = (x: number) => `${(x * 100).toFixed(2)}%`
const settings = (r: ComparedRun) => `${r.settings.recipe} ${r.settings.model}, ${r.epochs.length} epoch${r.epochs.length === 1 ? '' : 's'}`
const answer = (p: ChangedImage['a']) => `${p.predicted} (${p.confidence.toFixed(2)})`

function formatComparison(r: CompareResult): string {
  const metrics = table([
    ['', 'run', 'trained', 'accuracy', 'loss', 'macro F1'],
    ...(['A', 'B'] as const).map((side) => {
      const run = side === 'A' ? r.a : r.b
      return [side, run.runId, settings(run), pct(run.accuracy), run.loss.toFixed(4), run.macroF1.toFixed(4)]
    }),
  ])
  const c = r.counts
  const head = `${c.changed} of ${c.images} ${r.split} images changed their prediction: ${c.fixed} fixed (wrong in A, right in B), ${c.broke} broke (right in A, wrong in B), ${c.bothWrong} wrong in both.`
  const list = r.changed.length ? ['', ...table([['file', 'label', 'A', 'B'], ...r.changed.slice(0, SHOWN).map((x) => [x.file || `#${x.id}`, x.label, answer(x.a), answer(x.b)])])] : []
  const more = r.changed.length > SHOWN ? [`… and ${r.changed.length - SHOWN} more (--json lists them all).`] : []
  return [...metrics, '', head, ...list, ...more].join('\n')
}

export default defineCommand({
  name: 'compare',
  usage: 'compare <project> <runA> <runB> [--split validation|test] [--json]',
  summary: 'Two runs side by side: their metrics on a split and the images whose prediction changed (fixed, broke, both wrong).',
  help: ['--split NAME         validation (default) | test'],
  options: { split: { type: 'string' } },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    const runA = needArg(pos, 1, 'the first run id', this)
    const runB = needArg(pos, 2, 'the second run id', this)
    noExtraArgs(pos, 3, this)
    const { EvalSplit } = await import('../../shared/evaluation')
    const split = EvalSplit.safeParse(v.split ?? 'validation')
    if (!split.success) throw new UsageError(`--split expects validation or test, got "${String(v.split)}".`)
    const { compareRuns } = await import('../../main/services/evaluation')
    const { useBestBackend } = await import('../../main/services/backend')
    const r = await withOpenProject(dir, async (project, signal) => {
      await useBestBackend()
      return compareRuns(project.dir, { runA, runB, split: split.data }, { signal, onProgress: (p) => out.progress(p) })
    })
    out.result(r, formatComparison(r))
  },
})
