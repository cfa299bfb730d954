import { describe, expect, it } from 'vitest'
import { STARTER_LAYERS, useModelsStore } from '../../src/renderer/src/stores/models'
import { appError, setup } from './stores-fake'

const DIR = '/p/m'
const summaryOf = (n: number) => ({ model: 'm', layers: [], totalParams: n, trainableParams: n, nonTrainableParams: 0 })
const catalog = {
  presets: [{ name: 'tiny', title: 'Tiny', description: 'd', inputShape: [28, 28, 1], layers: [{ type: 'Flatten' }, { type: 'Dense', units: 8 }] }],
  bases: [],
}

describe('models store', () => {
  it('starts from the model chosen in project.json and summarises the draft', async () => {
    const fake = setup({ 'models.summary': ({ spec }) => summaryOf(spec.type === 'transfer' ? 2_260_546 : 1) }, { dir: DIR, state: { model: { type: 'transfer', base: 'vgg16' } } })
    const s = useModelsStore()
    s.ensure()
    expect(s.draft).toEqual({ type: 'transfer', base: 'vgg16' })
    await s.refreshSummary()
    expect(s.summary?.totalParams).toBe(2_260_546)
    expect(fake.calls[0].args).toEqual({ dir: DIR, spec: { type: 'transfer', base: 'vgg16' } })
  })

  it('loads a preset’s layers into the editor, and the latest summary request wins', async () => {
    const pending: ((v: unknown) => void)[] = []
    setup({ 'models.catalog': () => catalog, 'models.summary': () => new Promise((r) => pending.push(r)) }, { dir: DIR })
    const s = useModelsStore()
    await s.loadCatalog()
    const a = s.useCnn('tiny')
    expect(s.draft).toEqual({ type: 'cnn', preset: 'tiny', layers: catalog.presets[0].layers })
    const b = s.setLayers([...STARTER_LAYERS])
    pending[1](summaryOf(222))
    pending[0](summaryOf(111))
    await Promise.all([a, b])
    expect(s.summary?.totalParams).toBe(222)
  })

  it('keeps a bad layer stack’s error inline and does not mark it chosen', async () => {
    setup({ 'models.choose': () => { throw appError('INVALID_INPUT', 'Conv2D kernel 9 is larger than the 4x4 input.', 'Use a smaller kernel.') } }, { dir: DIR })
    const s = useModelsStore()
    expect(await s.choose()).toBeUndefined()
    expect(s.chooseError?.hint).toBe('Use a smaller kernel.')
    expect(s.chosen).toBeNull()
  })
})
