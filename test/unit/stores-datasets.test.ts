import { describe, expect, it } from 'vitest'
import { PAGE_SIZE, useDatasetsStore } from '../../src/renderer/src/stores/datasets'
import { appError, setup, tick } from './stores-fake'

const DIR = '/p/cats'
const overview = (total: number) => ({
  total,
  classes: [{ name: 'cat', count: total - 10 }, { name: 'dog', count: 10 }],
  splits: { train: total - 4, validation: 4, test: 0 },
  health: { warnings: ['Class "dog" has 10 images; aim for 50+.'], perClass: [], imbalanceRatio: 2, smallImages: 0, smallExamples: [] },
  skipped: [{ path: '/src/cat/bad.png', reason: 'not an image' }],
  duplicates: { exact: 0, crossSplit: 0 },
  imports: [],
  settings: { inputSize: 96, resizeMode: 'squash' as const, background: '#ffffff', channels: 3 as const },
})

describe('datasets store', () => {
  it('imports with the form options, reports progress while running, then reloads the overview', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const fake = setup(
      {
        'datasets.import': async (_args, opts) => {
          opts?.onProgress?.({ phase: 'decode', done: 3, total: 61, rate: 30, etaSeconds: 2 })
          await gate
          return { added: 60, skipped: [{ path: '/src/cat/bad.png', reason: 'not an image' }], unchanged: 0, seconds: 1.5, duplicates: { exact: 0, crossSplit: 0, examples: [] } }
        },
        'datasets.overview': () => overview(60),
      },
      { dir: DIR },
    )
    const s = useDatasetsStore()
    const done = s.importFrom('/src', { size: 96, val: 0.2 })
    await tick()
    expect(s.importTask.running).toBe(true)
    expect(s.importTask.progress).toMatchObject({ phase: 'decode', done: 3, total: 61 })
    const call = fake.calls.find((c) => c.method === 'datasets.import')!
    expect(call.args).toEqual({ dir: DIR, source: '/src', options: { size: 96, val: 0.2 } })
    expect(call.opts?.callId).toBe(s.importTask.callId)
    release()
    await done
    expect(s.importTask.running).toBe(false)
    expect(s.lastImport?.skipped[0].reason).toBe('not an image')
    expect(s.overview?.total).toBe(60)
    expect(s.isEmpty).toBe(false)
  })

  it('cancels the running import by its callId and says so in plain words', async () => {
    const fake = setup(
      {
        'datasets.import': (_a, opts) =>
          new Promise((_r, reject) => {
            const id = opts!.callId!
            const t = setInterval(() => {
              if (fake.cancelled.includes(id)) {
                clearInterval(t)
                reject(appError('CANCELLED', 'Import cancelled.'))
              }
            }, 1)
          }),
      },
      { dir: DIR },
    )
    const s = useDatasetsStore()
    const p = s.importFrom('/src')
    await tick()
    const id = s.importTask.callId!
    await s.cancelImport()
    expect(await p).toBeUndefined()
    expect(fake.cancelled).toEqual([id])
    expect(s.importTask.error?.message).toBe('Cancelled.')
    expect(fake.calls.some((c) => c.method === 'datasets.overview')).toBe(false)
  })

  it('shows NOT_IMPLEMENTED inline instead of throwing', async () => {
    setup({ 'datasets.overview': () => { throw appError('NOT_IMPLEMENTED', 'Dataset overview is not implemented yet.', 'Use the CLI.') } }, { dir: DIR })
    const s = useDatasetsStore()
    await s.load()
    expect(s.loadError).toEqual({ message: 'Dataset overview is not implemented yet.', hint: 'Use the CLI.' })
  })

  it('fetches thumbnail pages lazily, once per page, for the visible range only', async () => {
    const fake = setup(
      {
        'datasets.items': ({ label, offset, limit }) => ({
          total: 5000,
          items: Array.from({ length: limit }, (_, i) => ({ id: offset + i, label, split: 'train', src: `/s/${offset + i}.png`, excluded: false })),
        }),
      },
      { dir: DIR },
    )
    const s = useDatasetsStore()
    await Promise.all([s.ensureRange('cat', 0, 59), s.ensureRange('cat', 10, 80)])
    expect(fake.calls.length).toBe(1)
    expect(s.itemAt('cat', 42)?.id).toBe(42)
    expect(s.itemAt('cat', PAGE_SIZE + 1)).toBeUndefined()
    await s.ensureRange('cat', 3 * PAGE_SIZE - 5, 3 * PAGE_SIZE + 5)
    expect(fake.calls.map((c) => (c.args as { offset: number }).offset)).toEqual([0, 2 * PAGE_SIZE, 3 * PAGE_SIZE])
    expect(s.itemAt('cat', 3 * PAGE_SIZE + 2)?.id).toBe(3 * PAGE_SIZE + 2)
    expect(s.itemAt('dog', 0)).toBeUndefined()
  })
})
