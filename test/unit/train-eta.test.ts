import { describe, expect, it } from 'vitest'
import { EtaEstimator, formFromRunOptions, parseFeatureProgress } from '../../src/renderer/src/stores/training'
import { axisTick, fixed } from '../../src/renderer/src/lib/format'
import { TrainOptions } from '../../src/shared/training'

/** Batch events of a run where each batch takes `spb` seconds of training and each epoch `extra` more (validation). */
function simulate(planned: number, batches: number, spb: number, extra: number, noise: (i: number) => number) {
  const eta = new EtaEstimator()
  const out: { left: number; eta: number | null }[] = []
  let i = 0
  for (let epoch = 1; epoch <= planned; epoch++) {
    for (let batch = 1; batch <= batches; batch++) {
      // The loop's own estimate: the rest of the run at this epoch's average rate (noisy early in an epoch).
      const remaining = EtaEstimator.remainingBatches({ epoch, batch, batches } as never, planned)
      const ev = { epoch, batch, batches, imagesPerSecond: 1, loss: 1, accuracy: 0.5, etaSeconds: remaining * spb * noise(i++) }
      eta.batch(ev, planned)
      const left = remaining * spb + (planned - epoch + 1) * extra
      out.push({ left, eta: eta.seconds(planned) })
    }
    eta.epoch({ epoch, loss: 1, accuracy: 0.5, valLoss: 1, valAccuracy: 0.5, lr: 1e-3, seconds: batches * spb + extra, imagesPerSecond: 1 })
  }
  return out
}

describe('Train view ETA, settings and number formats', () => {
  it('smooths the loop’s jumpy estimate, learns the per-epoch overhead, and never says 0 s while work remains', () => {
    // The first batches of each epoch over- and under-estimate by up to 2x, as the loop's per-epoch rate does.
    const noise = (i: number) => (i % 10 === 0 ? 2 : i % 10 === 1 ? 0.5 : 1)
    const out = simulate(5, 10, 1, 4, noise)
    for (const o of out) {
      expect(o.eta).not.toBeNull()
      expect(o.eta!).toBeGreaterThanOrEqual(1)
    }
    // Consecutive estimates move by far less than the 2x swings of the raw estimate.
    for (let k = 12; k < out.length; k++) expect(Math.abs(out[k].eta! - out[k - 1].eta!) / out[k - 1].eta!).toBeLessThan(0.35)
    // After a couple of epochs it is within 25 % of the truth, validation included.
    for (const o of out.slice(25, -3)) expect(Math.abs(o.eta! - o.left) / o.left).toBeLessThan(0.25)
    // The last batch of the last epoch: its validation is still ahead, so not 0.
    expect(out[out.length - 1].eta!).toBeGreaterThanOrEqual(1)
  })

  it('knows nothing before it knows the planned epochs (a reloaded page), instead of guessing wildly', () => {
    const eta = new EtaEstimator()
    eta.batch({ epoch: 3, batch: 1, batches: 7, imagesPerSecond: 300, loss: 1, accuracy: 0.5, etaSeconds: 50 }, 0)
    expect(eta.seconds(0)).toBeNull()
  })

  it('reads a run’s saved options back into the form, and the feature pass’s progress from its log line', () => {
    const options = TrainOptions.parse({ recipe: 'transfer', base: 'mobilenetv2', epochs: 300, batchSize: 8, learningRate: 0.005, augment: 'flip,rotate=15', earlyStop: false })
    expect(formFromRunOptions(JSON.parse(JSON.stringify(options)))).toMatchObject({ recipe: 'transfer', base: 'mobilenetv2', epochs: 300, batchSize: 8, learningRate: 0.005, augment: 'flip,rotate=15', earlyStop: false })
    expect(formFromRunOptions(TrainOptions.parse({ earlyStop: 5 }))).toMatchObject({ earlyStop: true, patience: 5, augment: '', learningRate: null })
    expect(formFromRunOptions(null)).toBeNull()
    expect(parseFeatureProgress('Computing base features: 120/2000 images')).toEqual({ done: 120, total: 2000 })
    expect(parseFeatureProgress('Frozen base on onnxruntime')).toBeNull()
  })

  it('formats axis ticks and report numbers as people write them', () => {
    expect(axisTick(1.7000000000000002)).toBe('1.7')
    expect(axisTick(0.30000000000000004)).toBe('0.3')
    expect(axisTick(2)).toBe('2')
    expect(axisTick(0.0001234)).toBe('0.0001234')
    expect([0.64, 1, 0.5, 0.123456].map((x) => fixed(x))).toEqual(['0.64', '1.00', '0.50', '0.12'])
    expect(fixed(null)).toBe('–')
  })
})
