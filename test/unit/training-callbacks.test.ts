import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { balancedClassWeights, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, resolveMode } from '../../src/main/ml/training/callbacks'
import { pythonLacks } from '../helpers/python'
import { deriveSeed, seededPermutation } from '../../src/main/ml/training/rng'
import { parseAugment, resolvedOptimizer, TrainOptions, formatAugment } from '../../src/shared/training'

/** Drives an EarlyStopping like Keras's callbacks_test DummyModel: weights = epoch index. */
function driveEarlyStopping(es: EarlyStopping, values: number[], key: 'val_loss' | 'loss' | 'val_accuracy' = 'val_loss') {
  let weights = -1
  let best = -1
  let trained = 0
  for (let epoch = 0; epoch < values.length; epoch++) {
    trained++
    weights = epoch
    const r = es.onEpochEnd(epoch, { loss: NaN, accuracy: NaN, [key]: values[epoch] })
    if (r.improved) best = epoch
    if (r.stop) break
  }
  if (es.restoreBestWeights && best >= 0) weights = best
  return { trained, weights }
}

describe('EarlyStopping (Keras callbacks_test cases)', () => {
  it('patience=2 on [0.0860, 0.1096, 0.1040, 0.1019] stops after 3 epochs', () => {
    expect(driveEarlyStopping(new EarlyStopping('val_loss', 2), [0.086, 0.1096, 0.104, 0.1019]).trained).toBe(3)
  })
  it('final weights: without restore ends at epoch 4, with restore_best_weights at epoch 2', () => {
    const losses = [0.2, 0.15, 0.1, 0.11, 0.12]
    expect(driveEarlyStopping(new EarlyStopping('val_loss', 2), losses).weights).toBe(4)
    expect(driveEarlyStopping(new EarlyStopping('val_loss', 2, 'auto', 0, true), losses).weights).toBe(2)
  })
  it('constant loss with patience=3 runs 4 epochs (keras.io example)', () => {
    expect(driveEarlyStopping(new EarlyStopping('loss', 3), Array(10).fill(1), 'loss').trained).toBe(4)
  })
  it('min_delta: improvements smaller than min_delta do not count; accuracy is maximised in auto mode', () => {
    const r = driveEarlyStopping(new EarlyStopping('val_accuracy', 1, 'auto', 0.05), [0.5, 0.52, 0.54, 0.6], 'val_accuracy')
    expect(r.trained).toBe(2)
    expect(resolveMode('val_accuracy', 'auto')).toBe('max')
    expect(resolveMode('val_loss', 'auto')).toBe('min')
  })
  it('validates its arguments before work starts', () => {
    expect(() => new EarlyStopping('val_loss', -1)).toThrow(/patience/)
  })
})

describe('ModelCheckpoint(save_best_only)', () => {
  it('saves only on strict improvement of the monitored value', () => {
    const c = new ModelCheckpoint('val_loss')
    const saves = [0.5, 0.4, 0.4, 0.45, 0.3].map((v, e) => c.onEpochEnd(e, { loss: 0, accuracy: 0, val_loss: v }).save)
    expect(saves).toEqual([true, true, false, false, true])
    expect(c.state.bestEpoch).toBe(4)
  })
  it('reports a missing monitor instead of saving', () => {
    expect(new ModelCheckpoint('val_loss').onEpochEnd(0, { loss: 1, accuracy: 0 })).toEqual({ save: false, missing: true })
  })
})

describe('ReduceLROnPlateau', () => {
  it('Keras test_reduces_lr_with_model_fit: patience=1, factor=0.1, min_delta=100 takes lr 0.1 to 0.01 in 2 epochs', () => {
    const r = new ReduceLROnPlateau('val_loss', 0.1, 1, 'auto', 100)
    let lr = 0.1
    for (const [e, v] of [0.7, 0.69].entries()) lr = r.onEpochEnd(e, { loss: 0, accuracy: 0, val_loss: v }, lr).lr
    expect(lr).toBeCloseTo(0.01, 12)
  })
  it('respects cooldown and min_lr', () => {
    const r = new ReduceLROnPlateau('loss', 0.5, 1, 'min', 0, 2, 0.3)
    let lr = 1
    const seen: number[] = []
    for (let e = 0; e < 6; e++) {
      lr = r.onEpochEnd(e, { loss: 1, accuracy: 0 }, lr).lr
      seen.push(lr)
    }
    // Keras order: e0 best; e1 reduce 1->0.5 (cooldown 2); e2 in cooldown; e3 cooldown ends, reduce 0.5->0.3 (min_lr); e4 cooldown; e5 lr == min_lr: unchanged
    expect(seen).toEqual([1, 0.5, 0.5, 0.3, 0.3, 0.3])
    expect(() => new ReduceLROnPlateau('loss', 1)).toThrow(/factor/)
  })
})

describe('class weights', () => {
  it.skipIf(pythonLacks('sklearn', 'numpy'))("'auto' equals sklearn compute_class_weight('balanced')", () => {
    const labels = [0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2]
    const w = balancedClassWeights(labels, 3)
    const py = execFileSync('/usr/bin/python3', ['-c', `import numpy as np, json; from sklearn.utils.class_weight import compute_class_weight as c; y=np.array(${JSON.stringify(labels)}); print(json.dumps(c('balanced', classes=np.arange(3), y=y).tolist()))`], { encoding: 'utf8' })
    const ref = JSON.parse(py) as number[]
    ref.forEach((r, i) => expect(w[i]).toBeCloseTo(r, 6))
  })
})

describe('seeded shuffle', () => {
  it('is a permutation, repeatable per seed and different across epochs', () => {
    const a = seededPermutation(50, deriveSeed(42, 0))
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect([...seededPermutation(50, deriveSeed(42, 0))]).toEqual([...a])
    expect([...seededPermutation(50, deriveSeed(42, 1))]).not.toEqual([...a])
  })
})

describe('TrainOptions (CLI shape)', () => {
  it('{} gives the one-click defaults', () => {
    const o = TrainOptions.parse({})
    expect(o).toMatchObject({ recipe: 'transfer', base: 'mobilenetv2', epochs: 10, batchSize: 32, augment: {}, classWeights: 'none', seed: 42 })
    expect(resolvedOptimizer(o)).toEqual({ optimizer: 'adam', learningRate: 1e-3 })
    expect(resolvedOptimizer(TrainOptions.parse({ recipe: 'finetune' }))).toEqual({ optimizer: 'rmsprop', learningRate: 1e-5 })
  })
  it('takes the CLI flags: --batch --lr --augment --early-stop --fine-tune-from', () => {
    const o = TrainOptions.parse({ recipe: 'finetune', batchSize: 16, learningRate: 2e-5, augment: 'flip,rotate=15,zoom=0.1', earlyStop: 3, fineTuneFrom: 'block_13', baseWeights: '/w.h5' })
    expect(o.batchSize).toBe(16)
    expect(o.learningRate).toBe(2e-5)
    expect(o.augment).toEqual({ flip: 'horizontal', rotate: 15, zoom: 0.1 })
    expect(o.earlyStop).toEqual({ monitor: 'val_loss', patience: 3, mode: 'auto', minDelta: 0, restoreBestWeights: true })
    expect(o.fineTuneFrom).toBe('block_13')
  })
  it('rejects unknown options and bad values with readable messages', () => {
    expect(TrainOptions.safeParse({ epoch: 3 }).success).toBe(false)
    const r = TrainOptions.safeParse({ augment: 'flip,spin=3' })
    expect(r.success).toBe(false)
    expect(r.error!.issues[0].message).toMatch(/Cannot read augmentation "spin=3"/)
  })
})

describe('parseAugment', () => {
  it('parses and round-trips', () => {
    expect(parseAugment('flip=both, rotate=20 ,shift=0.1,brightness=0.2')).toEqual({ flip: 'both', rotate: 20, shiftX: 0.1, shiftY: 0.1, brightness: 0.2 })
    expect(parseAugment('none')).toEqual({})
    expect(parseAugment(formatAugment(parseAugment('flip,zoom=0.2')))).toEqual({ flip: 'horizontal', zoom: 0.2 })
  })
  it('says what is wrong', () => {
    expect(() => parseAugment('rotate')).toThrow(/needs a value/)
    expect(() => parseAugment('zoom=2')).toThrow(/between 0 and 1/)
    expect(() => parseAugment('flip=diagonal')).toThrow(/horizontal, vertical or both/)
    expect(() => parseAugment('rotate=abc')).toThrow(/not a number/)
  })
})
