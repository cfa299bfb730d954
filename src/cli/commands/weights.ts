import { defineCommand, num } from '../command'
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
    const { WeightsManager, weightsNameFor } = await import('../../main/ml/weights')
    const manager = new WeightsManager({ baseUrl: v['base-url'] as string | undefined })
    const action = pos[0] ?? 'list'
    if (action === 'list') {
      const rows = await Promise.all(manager.entries().map(async (e) => ({ name: e.name, base: e.base, file: e.file, cached: (await manager.cached(e.name))?.path ?? null })))
      return out.result(rows, [`Weights cache: ${manager.dir}`, ...rows.map((r) => `  ${r.cached ? '✓' : ' '} ${r.name.padEnd(28)} ${r.file}`)].join('\n'))
    }
    if (action !== 'download') throw new UsageError(`Unknown action "${action}": use list or download.\nUsage: classifier-studio ${this.usage}`)
    const what = pos[1]
    if (!what) throw new UsageError(`Which weights? e.g. classifier-studio weights download mobilenetv2 --size 160\nUsage: classifier-studio ${this.usage}`)
    const name = what === 'mobilenetv2' || what === 'vgg16' ? weightsNameFor(what, { inputSize: num(v.size, '--size', { min: 32, max: 1024, int: true }) }) : what
    const ac = new AbortController()
    process.once('SIGINT', () => ac.abort())
    const r = await manager.ensure(name, {
      signal: ac.signal,
      onProgress: (p) => out.progress({ phase: p.phase, done: Math.round(p.receivedBytes / 1e6), total: p.totalBytes ? Math.round(p.totalBytes / 1e6) : 0, message: 'MB' }),
    })
    out.result({ name, ...r }, `${name}: ${r.path}`)
  },
})
