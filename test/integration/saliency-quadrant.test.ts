import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../src/main/ml/backend'
import { InMemoryDataSource, type InMemorySplit } from '../../src/main/ml/training/data'
import { loadRunModel } from '../../src/main/ml/training/runs'
import { mulberry32 } from '../../src/main/ml/training/rng'
import { runTraining, type TrainDeps } from '../../src/main/ml/training/train'
import { explanationMap, saliencyMap } from '../../src/main/services/evaluation/saliency'
import type { RunModel } from '../../src/main/services/evaluation/deps'
import type { TrainOptionsInput } from '../../src/shared/training'

// Are the saliency maps the studio shows right? Models are trained (the real training loop, a
// CNN preset and a MobileNetV2 transfer model with the offline ImageNet weights) on images
// where only one quadrant tells the classes apart (top-left for one, bottom-right for the
// other, so a map shifted towards a corner cannot pass both); the map of each validation image
// must peak there and put much more than a quarter of its weight there.

const dirs: string[] = []
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
beforeAll(async () => {
  await initBackend('wasm')
})

/**
 * Two classes of size x size x c images: noise everywhere; the decisive quadrant holds the
 * class's mark (see `square`) at a random place inside it. With `distractors`, the other
 * quadrants hold marks of either class at random, so only the decisive one tells.
 */
function quadrantDataset(size: number, c: 1 | 3, perClass: { train: number; validation: number }, distractors: boolean, corner: Corner, seed = 3, squareShare = 0.22): InMemoryDataSource {
  const r = mulberry32(seed)
  const half = size / 2
  const side = Math.round(size * squareShare)
  const per = size * size * c
  const colour = (cls: number): number[] => (c === 1 ? [235] : cls === 0 ? [220, 30, 30] : [30, 40, 220])
  const splits: Record<string, InMemorySplit> = {}
  for (const split of ['train', 'validation'] as const) {
    const n = perClass[split] * 2
    const x = new Uint8Array(n * per)
    const labels = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      const cls = i % 2
      labels[i] = cls
      const img = x.subarray(i * per, (i + 1) * per)
      for (let p = 0; p < size * size; p++) for (let ch = 0; ch < c; ch++) img[p * c + ch] = Math.round(110 + (r() - 0.5) * 70)
      // Gray images: a bright bar, horizontal (class 0) or vertical (class 1); colour images: a red
      // (class 0) or blue (class 1) square. Either way each class has something of its own to see.
      const square = (qx: number, qy: number, col: number[], cls: number) => {
        const bw = c === 1 ? (cls === 0 ? side + 4 : 3) : side
        const bh = c === 1 ? (cls === 0 ? 3 : side + 4) : side
        const x0 = qx + 1 + Math.floor(r() * (half - bw - 1))
        const y0 = qy + 1 + Math.floor(r() * (half - bh - 1))
        for (let y = y0; y < y0 + bh; y++) for (let xx = x0; xx < x0 + bw; xx++) for (let ch = 0; ch < c; ch++) img[(y * size + xx) * c + ch] = col[ch]
      }
      const quads = [[0, 0], [half, 0], [0, half], [half, half]]
      const decisive = corner === 'top-left' ? 0 : 3
      square(quads[decisive][0], quads[decisive][1], colour(cls), cls)
      if (distractors)
        for (const [qx, qy] of quads.filter((_, q) => q !== decisive)) {
          const other = r() < 0.5 ? 0 : 1
          square(qx, qy, colour(other), other)
        }
    }
    splits[split] = { x, labels }
  }
  return new InMemoryDataSource(['a', 'b'], [size, size, c], splits, `quadrant-${size}-${c}-${distractors}-${corner}-${seed}`)
}

type Corner = 'top-left' | 'bottom-right'

/** Share of the map's weight in each quadrant (top-left, top-right, bottom-left, bottom-right) and the quadrant of its peak. */
function quadrantShares(map: Float32Array, h: number, w: number): { shares: number[]; peak: number } {
  const q = (x: number, y: number) => (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1)
  const sums = [0, 0, 0, 0]
  let peak = 0
  for (let i = 1; i < map.length; i++) if (map[i] > map[peak]) peak = i
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) sums[q(x, y)] += map[y * w + x]
  const total = sums.reduce((a, b) => a + b, 0) || 1
  return { shares: sums.map((v) => v / total), peak: q(peak % w, Math.floor(peak / w)) }
}

async function trainAndMap(data: InMemoryDataSource, corner: Corner, opts: TrainOptionsInput, deps: Partial<TrainDeps> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cs-saliency-'))
  dirs.push(dir)
  const res = await runTraining(dir, opts, { deps: { data, ...deps } })
  const r = await loadRunModel(dir, res.runId, 'best')
  const [size, , c] = data.imageShape
  const run: RunModel = { model: r.model, labels: r.labels, preprocess: r.preprocess, settings: { inputSize: size, resizeMode: 'squash', background: '#ffffff', channels: c as 1 | 3 } }
  const decisive = corner === 'top-left' ? 0 : 3
  const mean = [0, 0, 0, 0]
  let plain = 0
  let correct = 0
  let peaks = 0
  let n = 0
  const methods = new Set<string>()
  const per = size * size * c
  for await (const b of data.batches('validation', { batchSize: 64, shuffle: false, seed: 1 })) {
    for (let i = 0; i < b.labels.length; i++) {
      const px = b.x.subarray(i * per, (i + 1) * per)
      const s = explanationMap(run, px)
      methods.add(s.method)
      if (s.classIndex === b.labels[i]) correct++
      const q = quadrantShares(s.map, s.height, s.width)
      q.shares.forEach((v, j) => (mean[j] += v))
      if (q.peak === decisive) peaks++
      const g = saliencyMap(run, px)
      plain += quadrantShares(g.map, g.height, g.width).shares[decisive]
      n++
    }
  }
  r.model.dispose()
  const shares = mean.map((v) => v / n)
  return {
    accuracy: correct / n,
    methods: [...methods],
    /** Mean share of the map's weight in the decisive quadrant (a map blind to the model: 0.25). */
    decisive: shares[decisive],
    /** The largest mean share of any other quadrant. */
    otherMax: Math.max(...shares.filter((_, j) => j !== decisive)),
    /** Images whose map peaks in the decisive quadrant. */
    peaksInside: peaks / n,
    /** The same share for the plain gradient, for comparison. */
    plainGradient: plain / n,
  }
}

describe('saliency maps highlight the region that decides the class', () => {
  it('CNN preset (fashion-mnist-cnn, 28x28x1) with distractors in the other quadrants', async () => {
    const data = quadrantDataset(28, 1, { train: 120, validation: 20 }, true, 'top-left')
    const m = await trainAndMap(data, 'top-left', { recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 8, batchSize: 16, learningRate: 1e-3, augment: 'none', earlyStop: false })
    console.log('cnn', m)
    expect(m.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(m.methods).toEqual(['grad-cam'])
    // measured: 0.82 of the weight and every peak in the decisive quadrant (plain gradient: 0.59)
    expect(m.decisive).toBeGreaterThan(0.65)
    expect(m.decisive).toBeGreaterThan(4 * m.otherMax)
    expect(m.peaksInside).toBeGreaterThanOrEqual(0.9)
  }, 300_000)

  it('MobileNetV2 transfer (offline ImageNet weights, 160x160x3): only the bottom-right quadrant differs', async () => {
    const data = quadrantDataset(160, 3, { train: 60, validation: 15 }, false, 'bottom-right', 3, 0.3)
    const m = await trainAndMap(data, 'bottom-right', { recipe: 'transfer', base: 'mobilenetv2', epochs: 20, batchSize: 16, learningRate: 0.01, augment: 'none', earlyStop: false })
    console.log('transfer', m)
    expect(m.accuracy).toBeGreaterThanOrEqual(0.9)
    expect(m.methods).toEqual(['grad-cam'])
    // Coarser (the offline weights' top blocks are not ImageNet-trained; the map is read at
    // block 12's 10x10 grid): measured 0.47 of the weight, the peak inside for 63 % of images.
    expect(m.decisive).toBeGreaterThan(0.4)
    expect(m.decisive).toBeGreaterThan(1.8 * m.otherMax)
    expect(m.peaksInside).toBeGreaterThanOrEqual(0.5)
  }, 600_000)
})
