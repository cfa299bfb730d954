import { defineCommand, noExtraArgs, num } from '../command'
import { UsageError } from '../output'

export default defineCommand({
  name: 'weights',
  usage: 'weights [list | download <mobilenetv2|vgg16|NAME>] [--size N] [--base-url URL] [--json]',
  summary: "List or download the official Keras ImageNet weights for transfer learning (cached in the app data folder; used by `train` once present).",
  help: [
    'list                 the known weights files and whether each is cached (default)',
    'download NAME        fetch one with progress, resume and checksum; NAME is mobilenetv2, vgg16 or a listed name',
    '--size N             MobileNetV2 input size the file is for (96, 128, 160, 192, 224; default 224)',
    '--base-url URL       a mirror of the Keras Applications folder',
  ],
  options: { size: { type: 'string' }, 'base-url': { type: 'string' } },
  async run(pos, v, out) {
    const action = pos[0] ?? 'list'
    const baseUrl = v['base-url'] as string | undefined
    if (baseUrl !== undefined) {
      let ok = false
      try {
        ok = ['http:', 'https:'].includes(new URL(baseUrl).protocol)
      } catch {
        ok = false
      }
      if (!ok) throw new UsageError(`--base-url expects an http:// or https:// URL of a mirror of the Keras Applications folder, got "${baseUrl}" (e.g. --base-url https://storage.googleapis.com/tensorflow/keras-applications).`)
    }
    if (v.size !== undefined && !(action === 'download' && pos[1] === 'mobilenetv2'))
      throw new UsageError(`--size applies to \`weights download mobilenetv2\` only (it picks the file for that input size); ${action === 'download' ? `"${pos[1] ?? ''}" names one file already` : `\`weights ${action}\` takes no size`}. Remove --size.\nUsage: classifier-studio ${this.usage}`)
    const { WeightsManager, weightsNameFor } = await import('../../main/ml/weights')
    const manager = new WeightsManager({ baseUrl })
    if (action === 'list') {
      noExtraArgs(pos, 1, this)
      const rows = await Promise.all(manager.entries().map(async (e) => ({ name: e.name, base: e.base, file: e.file, cached: (await manager.cached(e.name))?.path ?? null })))
      return out.result(rows, [`Weights cache: ${manager.dir}`, ...rows.map((r) => `  ${r.cached ? '✓' : ' '} ${r.name.padEnd(28)} ${r.file}`)].join('\n'))
    }
    if (action !== 'download') throw new UsageError(`Unknown action "${action}": use list or download.\nUsage: classifier-studio ${this.usage}`)
    const what = pos[1]
    if (!what) throw new UsageError(`Which weights? e.g. classifier-studio weights download mobilenetv2 --size 160\nUsage: classifier-studio ${this.usage}`)
    noExtraArgs(pos, 2, this)
    const size = num(v.size, '--size', { min: 96, max: 224, int: true, example: '160' })
    const name = what === 'mobilenetv2' || what === 'vgg16' ? weightsNameFor(what, { inputSize: size }) : what
    if (size !== undefined && !name.includes(`-${size}-`)) out.log(`No MobileNetV2 weights are published for ${size} px; ${name} is the file training at ${size} px uses.`)
    const ac = new AbortController()
    process.once('SIGINT', () => ac.abort())
    const r = await manager.ensure(name, {
      signal: ac.signal,
      onProgress: (p) => out.progress({ phase: p.phase, done: Math.round(p.receivedBytes / 1e6), total: p.totalBytes ? Math.round(p.totalBytes / 1e6) : 0, message: 'MB' }),
    })
    out.result({ name, ...r }, `${name}: ${r.path}`)
  },
})
