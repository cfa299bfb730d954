import type { TrainEvent, TrainOptionsInput } from '../../shared/training'
import { withOpenProject } from '../project'
import { choice, defineCommand, needArg, noExtraArgs } from '../command'
import { RECIPE_FLAGS, trainOptions } from '../train-options'
import { UsageError } from '../output'

const pct = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(2)}%`)

export default defineCommand({
  name: 'train',
  usage: 'train <project> [--recipe transfer|finetune|cnn] [--base mobilenetv2|vgg16] [--model PRESET] [--epochs N] [--batch B] [--lr X] [options] [--json]',
  summary: 'Train a model in a separate process, with live progress. Ctrl+C stops after the current batch (resumable).',
  help: [
    '--recipe R           transfer (default: frozen ImageNet base + new head) | finetune (unfreeze the top of',
    '                     the base, continue from the latest transfer run) | cnn (a custom CNN from scratch)',
    '--base NAME          mobilenetv2 (default) | vgg16',
    '--model PRESET       CNN preset for --recipe cnn (implied): fashion-mnist-cnn, sign-mnist-cnn, cats-dogs-cnn(-bn)',
    '--epochs N           epochs (default 10)',
    '--batch B            batch size (default 32)',
    '--lr X               learning rate (default 1e-3; fine-tuning 1e-5)',
    '--optimizer NAME     adam (default) | rmsprop (fine-tuning default) | sgd',
    '--fine-tune-from L   fine-tune: unfreeze the top L layers of the base, or from a layer/block name (e.g. block_13)',
    '--augment SPEC       training-split augmentation, e.g. flip,rotate=15,zoom=0.1,shift=0.1,brightness=0.2',
    '--early-stop P       stop after P epochs without val_loss improvement, restoring the best weights',
    '--reduce-lr P        divide the learning rate by 10 after P epochs on a plateau',
    '--label-smoothing S  soften the one-hot targets to y(1-S)+S/classes (Keras label_smoothing, e.g. 0.1)',
    '--class-weights W    auto (balanced, for imbalanced data) | none (default)',
    '--base-weights PATH  transfer: a Keras .h5 or TF.js model.json holding the base\'s ImageNet weights',
    '--seed S             seed of shuffling, augmentation and initialisation (default 42)',
    '--resume RUN_ID      continue a stopped or crashed run after its last finished epoch, with its own',
    '                     settings (only --epochs, a new total, --backend and --threads may change);',
    '                     Ctrl+C a run, then resume it',
    '--from-run RUN_ID    fine-tune from this run instead of the latest transfer run',
    '--no-feature-cache   compute the frozen base on every batch instead of caching its features',
    '--no-frozen-split    train the whole model under the gradient tape (default: the frozen bottom runs forward-only)',
    '--backend NAME       auto (default) | tensorflow-gpu | tensorflow | wasm | cpu',
    '--threads N          wasm backend: split each batch across N training threads (default: one per core;',
    '                     1 = no worker threads); the tensorflow backends use every core themselves',
  ],
  options: {
    ...RECIPE_FLAGS,
    resume: { type: 'string' },
    'from-run': { type: 'string' },
    'no-feature-cache': { type: 'boolean' },
    'no-frozen-split': { type: 'boolean' },
    backend: { type: 'string' },
    threads: { type: 'string' },
  },
  async run(pos, v, out) {
    const dir = needArg(pos, 0, 'the project folder', this)
    noExtraArgs(pos, 1, this)
    if (v.resume !== undefined) {
      // A resume repeats the run's own settings (that is what makes it the same run).
      const extra = Object.keys(v).filter((k) => v[k] !== undefined && !['resume', 'epochs', 'backend', 'threads', 'json', 'help'].includes(k))
      if (extra.length) throw new UsageError(`--resume continues run ${String(v.resume)} with the settings it was started with; only --epochs (a new total), --backend and --threads can go with it, not ${extra.map((k) => `--${k}`).join(', ')}.`)
    }
    const options = await trainOptions(v)
    const { train } = await import('../../main/services/training/session')
    if (v.backend !== undefined) {
      process.env.CLASSIFIER_STUDIO_BACKEND = choice(v.backend, '--backend', ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const)
    }
    const onEvent = (e: TrainEvent) => {
      if (e.type === 'start') out.log(`Run ${e.runId}: ${e.recipe}, ${e.epochs} epoch(s) on ${e.backend} (${e.reason})${e.threads && e.threads > 1 ? `, ${e.threads} threads` : ''}${e.resumedFromEpoch ? `, resumed after epoch ${e.resumedFromEpoch}` : ''}`)
      else if (e.type === 'batch') out.progress({ phase: `epoch ${e.epoch}`, done: e.batch, total: e.batches, rate: e.imagesPerSecond, etaSeconds: e.etaSeconds, message: `loss ${e.loss.toFixed(4)} acc ${e.accuracy.toFixed(4)}` })
      else if (e.type === 'epoch')
        out.log(`epoch ${e.epoch}: loss ${e.loss.toFixed(4)} accuracy ${pct(e.accuracy)} val_loss ${e.valLoss?.toFixed(4) ?? '–'} val_accuracy ${pct(e.valAccuracy)} lr ${e.lr.toExponential(1)} ${e.seconds.toFixed(1)} s ${e.imagesPerSecond.toFixed(0)} img/s`)
      else if (e.type === 'log') out.log(e.message)
    }
    const flagsGiven = Object.values(options).some((x) => x !== undefined)
    const { readExampleState, runExample } = await import('../../main/services/examples')
    const example = flagsGiven ? null : await readExampleState(dir).catch(() => null)
    if (example) {
      // An example project with no flags: the tutorial's whole recipe, then its evaluation.
      const r = await withOpenProject(dir, (project, signal) => runExample(project.dir, { signal, onEvent, onProgress: (p) => out.progress(p) }))
      const ev = r.evaluation
      return out.result(r, [`Example ${r.example}: ${r.stages.map((s) => `${s.stage} (run ${s.result.runId}, ${s.result.epochs.length} epochs)`).join(' → ')} in ${(r.seconds / 60).toFixed(1)} min.`, ev ? `${ev.split} accuracy ${pct(ev.accuracy)}, loss ${ev.loss.toFixed(4)}` : ''].join('\n'))
    }
    const result = await withOpenProject(dir, (project, signal) => train(project.dir, options as TrainOptionsInput, { signal, onEvent }))
    const text = [`Run ${result.runId} ${result.stopped ? 'stopped (resume with --resume ' + result.runId + ')' : result.stoppedEarly ? 'stopped early' : 'finished'} on ${result.backend}.`, `Best epoch ${result.best.epoch}: val_accuracy ${pct(result.best.valAccuracy)}`]
    out.result(result, text.join('\n'))
  },
})
