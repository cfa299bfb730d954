import { describe, expect, it } from 'vitest'
import { predictionsCsv, usePredictStore, MAX_UPLOADS } from '../../src/renderer/src/stores/predict'
import { useExportStore } from '../../src/renderer/src/stores/export'
import { appError, setup } from './stores-fake'

const DIR = '/p/x'

describe('predict store', () => {
  it('sends dropped files base64-encoded and keeps the results with top-k', async () => {
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) % 256)
    const fake = setup({ 'evaluation.predictUploads': ({ files }) => files.map((f: { name: string }) => ({ file: f.name, label: 'cat', confidence: 0.9, top: [{ label: 'cat', probability: 0.9 }, { label: 'dog', probability: 0.1 }] })) }, { dir: DIR })
    const s = usePredictStore()
    s.top = 2
    const res = await s.predictFiles([new File([bytes], 'a.png', { type: 'image/png' })])
    expect(res?.[0].label).toBe('cat')
    const args = fake.calls[0].args as { files: { name: string; base64: string }[]; options: { top: number } }
    expect(args.options.top).toBe(2)
    expect(Buffer.from(args.files[0].base64, 'base64').equals(Buffer.from(bytes))).toBe(true)
    expect(s.results.length).toBe(1)
  })

  it('predicts at most MAX_UPLOADS files and says so', async () => {
    const fake = setup({ 'evaluation.predictUploads': ({ files }) => files.map((f: { name: string }) => ({ file: f.name, label: 'x', confidence: 1, top: [] })) }, { dir: DIR })
    const s = usePredictStore()
    const files = Array.from({ length: MAX_UPLOADS + 3 }, (_, i) => new File([new Uint8Array([i])], `${i}.png`))
    await s.predictFiles(files)
    expect((fake.calls[0].args as { files: unknown[] }).files.length).toBe(MAX_UPLOADS)
    expect(s.task.error?.message).toMatch(`first ${MAX_UPLOADS} of ${MAX_UPLOADS + 3}`)
  })

  it('writes a CSV that quotes commas and lists top-k pairs', () => {
    const csv = predictionsCsv([
      { file: '/a/b,c.png', label: 'cat', confidence: 0.75, top: [{ label: 'cat', probability: 0.75 }, { label: 'dog', probability: 0.25 }] },
      { file: '/a/bad.png', label: '', confidence: 0, top: [], error: 'Not an image: "bad"' },
    ])
    expect(csv.split('\n')).toEqual([
      'file,label,confidence,top1_label,top1_probability,top2_label,top2_probability,error',
      '"/a/b,c.png",cat,0.75,cat,0.75,dog,0.25,',
      '/a/bad.png,,0,,,,,"Not an image: ""bad"""',
      '',
    ])
  })
})

describe('export store', () => {
  it('exports to a default folder inside the project and keeps the parity report', async () => {
    const parity = { images: 12, maxAbsDiff: 3e-7, labelAgreement: 1, passed: true, tolerance: 1e-4, runtime: 'onnxruntime-node' }
    const fake = setup({ 'export.run': ({ options }) => ({ format: options.format, out: options.out, files: ['model.onnx'], parity }) }, { dir: DIR })
    const s = useExportStore()
    const r = await s.run()
    expect(fake.calls[0].args).toEqual({ dir: DIR, options: { format: 'onnx', out: `${DIR}/exports/onnx`, overwrite: undefined, runId: undefined } })
    expect(r?.parity.passed).toBe(true)
    expect(s.result?.files).toEqual(['model.onnx'])
  })

  it('shows an export error inline with its hint', async () => {
    setup({ 'export.run': () => { throw appError('INVALID_INPUT', 'The folder /o is not empty.', 'Pick an empty folder or tick Replace existing.') } }, { dir: DIR })
    const s = useExportStore()
    s.out = '/o'
    expect(await s.run()).toBeUndefined()
    expect(s.task.error).toEqual({ message: 'The folder /o is not empty.', hint: 'Pick an empty folder or tick Replace existing.' })
  })
})
