import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { CNN_PRESETS } from '../main/ml/models/presets'
import { AppError } from '../shared/errors'
import { choice, num } from './command'
import { UsageError } from './output'

type Values = Record<string, string | boolean | string[] | undefined>

const RECIPES = ['transfer', 'finetune', 'cnn'] as const
type Recipe = (typeof RECIPES)[number]

/** Which recipes each recipe-specific flag applies to, and why it means nothing for the others. */
const APPLIES: Record<string, { to: Recipe[]; why: Partial<Record<Recipe, string>> }> = {
  base: { to: ['transfer'], why: { cnn: 'a CNN from scratch has no pretrained base', finetune: 'fine-tuning keeps the base of the run it continues from' } },
  'base-weights': {
    to: ['transfer'],
    why: { cnn: 'a CNN from scratch has no pretrained base to load weights into', finetune: 'fine-tuning continues from the weights of a transfer run, so give --base-weights to that transfer run' },
  },
  model: { to: ['cnn'], why: { transfer: 'it names a CNN preset; transfer learning uses --base', finetune: 'it names a CNN preset; fine-tuning continues from a transfer run' } },
  'fine-tune-from': { to: ['finetune'], why: { transfer: 'only fine-tuning unfreezes layers of the base', cnn: 'only fine-tuning unfreezes layers of a pretrained base' } },
  'from-run': { to: ['finetune'], why: { transfer: 'only fine-tuning continues from another run', cnn: 'only fine-tuning continues from another run' } },
  'no-feature-cache': { to: ['transfer'], why: { finetune: 'only transfer learning caches the features of its frozen base', cnn: 'only transfer learning caches the features of its frozen base' } },
  'no-frozen-split': { to: ['transfer', 'finetune'], why: { cnn: 'a CNN from scratch has no frozen layers' } },
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

function hasHdf5Signature(file: string): boolean {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(8)
    for (const off of [0, 512, 1024, 2048, 4096]) if (readSync(fd, buf, 0, 8, off) === 8 && buf.equals(HDF5_SIGNATURE)) return true
    return false
  } finally {
    closeSync(fd)
  }
}

const WEIGHTS_HINT = 'Give a Keras .h5 weights file of the base without its top (e.g. mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5) or a TF.js model.json, or leave --base-weights out to use the cached official weights (classifier-studio weights download mobilenetv2).'

/** Checks --base-weights before training starts: the file exists and is HDF5 or a TF.js model.json. */
/** The recipe flags `train` and `job export` share (parsed by trainOptions). */
export const RECIPE_FLAGS = {
    recipe: { type: 'string' },
    base: { type: 'string' },
    model: { type: 'string' },
    epochs: { type: 'string' },
    batch: { type: 'string' },
    lr: { type: 'string' },
    optimizer: { type: 'string' },
    'fine-tune-from': { type: 'string' },
    augment: { type: 'string' },
    'early-stop': { type: 'string' },
    'reduce-lr': { type: 'string' },
    'label-smoothing': { type: 'string' },
    'class-weights': { type: 'string' },
    'base-weights': { type: 'string' },
    seed: { type: 'string' },
} as const

export function checkBaseWeightsFile(value: string): string {
  const file = resolve(value)
  const st = statSync(file, { throwIfNoEntry: false })
  if (!st) throw new AppError('NOT_FOUND', `--base-weights ${value}: no such file (${file}).`, WEIGHTS_HINT)
  if (st.isDirectory()) throw new AppError('INVALID_INPUT', `--base-weights ${value} is a folder, not a weights file.`, `Give the .h5 file or the model.json inside it. ${WEIGHTS_HINT}`)
  let isHdf5: boolean
  try {
    isHdf5 = hasHdf5Signature(file)
  } catch (err) {
    throw new AppError('INVALID_INPUT', `--base-weights ${value} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, 'Check that the file is readable by you, or copy it somewhere you can read.')
  }
  if (isHdf5) return file
  if (/\.json$/i.test(file)) {
    let manifest = false
    try {
      const j = JSON.parse(readFileSync(file, 'utf8')) as { weightsManifest?: unknown }
      manifest = Array.isArray(j?.weightsManifest)
    } catch {
      manifest = false
    }
    if (manifest) return file
    throw new AppError('INVALID_INPUT', `--base-weights ${value} is a JSON file but not a TF.js model.json (it has no "weightsManifest").`, WEIGHTS_HINT)
  }
  const kind = /\.(h5|hdf5|keras)$/i.test(file) ? 'it is named like one but does not start with the HDF5 signature (truncated, or not HDF5 at all)' : 'it is neither an HDF5 file (Keras .h5) nor a TF.js model.json'
  throw new AppError('INVALID_INPUT', `--base-weights ${value} is not a weights file: ${kind}.`, WEIGHTS_HINT)
}

/**
 * The `train` flags as training options, each checked with a message naming the flag: values in
 * range, names among the choices, and no flag that the chosen recipe would silently ignore.
 * `--model PRESET` without `--recipe` means `--recipe cnn`.
 */
export async function trainOptions(v: Values): Promise<Record<string, unknown>> {
  const { parseAugment } = await import('../shared/training')
  const given = (k: string) => v[k] !== undefined && v[k] !== false
  let recipe = choice(v.recipe, '--recipe', RECIPES)
  const resuming = v.resume !== undefined
  if (!recipe && !resuming && given('model')) recipe = 'cnn'
  if (!resuming) {
    const r: Recipe = recipe ?? 'transfer'
    for (const [flag, rule] of Object.entries(APPLIES)) {
      if (!given(flag) || rule.to.includes(r)) continue
      const needs = rule.to.map((x) => `--recipe ${x}`).join(' or ')
      throw new UsageError(`--${flag} applies to ${needs} only, and this is ${recipe ? `--recipe ${r}` : `--recipe ${r} (the default)`}: ${rule.why[r]}. Remove --${flag}${rule.to.length === 1 ? `, or add --recipe ${rule.to[0]}` : ''}.`)
    }
  }
  const from = v['fine-tune-from'] as string | undefined
  let fineTuneFrom: number | string | undefined
  if (from !== undefined) {
    if (/^-?\d+(\.\d+)?$/.test(from.trim())) fineTuneFrom = num(from, '--fine-tune-from', { min: 0, int: true, example: '30 (the top 30 layers) or a layer name such as block_13' })
    else if (from.trim() === '') throw new UsageError('--fine-tune-from expects a number of layers or a layer/block name such as block_13, got an empty value.')
    else fineTuneFrom = from
  }
  const model = v.model === undefined ? undefined : choice(v.model, '--model', Object.keys(CNN_PRESETS))
  const augment = v.augment as string | undefined
  if (augment !== undefined) {
    try {
      parseAugment(augment)
    } catch (e) {
      throw new UsageError(`--augment ${JSON.stringify(augment)}: ${(e as Error).message}`)
    }
  }
  const baseWeights = v['base-weights'] === undefined ? undefined : checkBaseWeightsFile(String(v['base-weights']))
  return {
    recipe,
    base: choice(v.base, '--base', ['mobilenetv2', 'vgg16'] as const),
    model,
    epochs: num(v.epochs, '--epochs', { min: 1, max: 10_000, int: true, example: '10' }),
    batchSize: num(v.batch, '--batch', { min: 1, max: 4096, int: true, example: '32' }),
    learningRate: num(v.lr, '--lr', { above: 0, max: 10, example: '0.001' }),
    optimizer: choice(v.optimizer, '--optimizer', ['adam', 'rmsprop', 'sgd'] as const),
    fineTuneFrom,
    augment,
    earlyStop: num(v['early-stop'], '--early-stop', { min: 0, int: true, example: '3' }),
    reduceLrOnPlateau: num(v['reduce-lr'], '--reduce-lr', { min: 0, int: true, example: '2' }),
    labelSmoothing: num(v['label-smoothing'], '--label-smoothing', { min: 0, max: 1, example: '0.1' }),
    classWeights: choice(v['class-weights'], '--class-weights', ['auto', 'none'] as const),
    baseWeights,
    seed: num(v.seed, '--seed', { min: 0, max: 2 ** 31 - 1, int: true, example: '42' }),
    resumeRunId: v.resume,
    fromRunId: v['from-run'],
    featureCache: v['no-feature-cache'] ? false : undefined,
    frozenSplit: v['no-frozen-split'] ? false : undefined,
    threads: num(v.threads, '--threads', { min: 1, max: 256, int: true, example: '2' }),
  }
}
