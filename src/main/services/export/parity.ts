/**
 * The export's parity check: golden images through the app's model (the app's own preprocessing)
 * and through the exported artifact in its own runtime (preprocessing.json read back from the
 * export, as a user would), then the two probability arrays compared.
 */
import * as tf from '@tensorflow/tfjs'
import * as ort from 'onnxruntime-node'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError } from '../../../shared/errors'
import { PARITY_TOLERANCE, PreprocessingJson, type ExportFormat, type ModelPreprocess, type ParityReport } from '../../../shared/export'
import { loadKerasH5Model } from '../../ml/export/h5'
import { loadTfjsModelDir } from '../../ml/export/tfjs'
import { applyDocumentedPreprocessing } from '../../ml/export/preprocess'
import { applyPreprocess } from '../../ml/models/preprocess'

export interface GoldenSet {
  ids: Int32Array
  labels: Int32Array
  /** n*h*w*c uint8 pixels, NHWC, as the app feeds them to applyPreprocess. */
  x: Uint8Array
  shape: [number, number, number, number]
  /** Where the images came from, for parity.json. */
  source: string
}

/** What the check compares: the app's model and the export written to `dir`. */
export interface ParityInput {
  model: tf.LayersModel
  preprocess: ModelPreprocess
  channels: number
  format: ExportFormat
  dir: string
  /** The project's golden images; null or of another shape: synthetic ones. */
  golden: GoldenSet | null
  images: number
  signal?: AbortSignal
}

export interface ParityCheck {
  parity: ParityReport
  golden: GoldenSet
  /** Indices into golden of the images whose class differs. */
  disagreements: number[]
}

/** Deterministic synthetic pixels when the project has no usable images (so parity still runs). */
function syntheticGolden(n: number, h: number, w: number, c: number): GoldenSet {
  const x = new Uint8Array(n * h * w * c)
  let s = 12345
  for (let i = 0; i < x.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    x[i] = s >>> 24
  }
  return { ids: new Int32Array(0), labels: new Int32Array(0), x, shape: [n, h, w, c], source: `${n} synthetic noise images (the project has no imported images matching the model input)` }
}

async function predictBatched(fn: (x: tf.Tensor4D) => Promise<Float32Array> | Float32Array, g: GoldenSet, batch = 16, signal?: AbortSignal): Promise<Float32Array[]> {
  const [n, h, w, c] = g.shape
  const per = h * w * c
  const outs: Float32Array[] = []
  for (let at = 0; at < n; at += batch) {
    if (signal?.aborted) throw new AppError('CANCELLED', 'The export was cancelled.')
    const m = Math.min(batch, n - at)
    const x = tf.tensor4d(g.x.subarray(at * per, (at + m) * per), [m, h, w, c], 'int32')
    try {
      outs.push(await fn(x))
    } finally {
      x.dispose()
    }
  }
  return outs
}

/** The app's own input transform (the models owner's applyPreprocess), as training/evaluation use it. */
function appPreprocess(x: tf.Tensor4D, pre: ModelPreprocess, modelChannels: number): tf.Tensor4D {
  if (pre.kind === 'none') return tf.tidy(() => {
    const f = tf.cast(x, 'float32') as tf.Tensor4D
    return f.shape[3] === 1 && modelChannels === 3 ? tf.tile(f, [1, 1, 1, 3]) : f
  })
  return applyPreprocess(x, pre, modelChannels as 1 | 3)
}

function predictWith(model: tf.LayersModel, prep: (x: tf.Tensor4D) => tf.Tensor): (x: tf.Tensor4D) => Float32Array {
  return (x) => {
    const y = tf.tidy(() => model.predict(prep(x) as tf.Tensor4D) as tf.Tensor)
    try {
      return Float32Array.from(y.dataSync() as Float32Array)
    } finally {
      y.dispose()
    }
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** maxAbsDiff and label agreement between two [n, k] probability arrays. */
export function compareProbabilities(app: Float32Array, exported: Float32Array, n: number): { maxAbsDiff: number; labelAgreement: number; disagreements: number[] } {
  if (app.length !== exported.length) return { maxAbsDiff: Infinity, labelAgreement: 0, disagreements: Array.from({ length: n }, (_, i) => i) }
  const k = app.length / n
  let maxAbsDiff = 0
  const disagreements: number[] = []
  for (let i = 0; i < n; i++) {
    let a = 0
    let b = 0
    for (let j = 0; j < k; j++) {
      const d = Math.abs(app[i * k + j] - exported[i * k + j])
      if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d
      if (app[i * k + j] > app[i * k + a]) a = j
      if (exported[i * k + j] > exported[i * k + b]) b = j
    }
    if (a !== b) disagreements.push(i)
  }
  return { maxAbsDiff, labelAgreement: n ? (n - disagreements.length) / n : 1, disagreements }
}

/** Runs the golden set through the exported artifact in its own runtime. */
async function runExported(format: ExportFormat, dir: string, prep: PreprocessingJson, g: GoldenSet, signal?: AbortSignal): Promise<{ probs: Float32Array; runtime: string }> {
  if (format === 'onnx') {
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'))
    try {
      const parts = await predictBatched(
        async (x) => {
          const data = Float32Array.from(x.dataSync())
          const out = await session.run({ [prep.inputName]: new ort.Tensor('float32', data, x.shape.slice()) })
          return Float32Array.from(out[prep.outputName].data as Float32Array)
        },
        g,
        16,
        signal,
      )
      return { probs: concat(parts), runtime: 'onnxruntime-node (CPU), raw 0..255 NHWC pixels in, preprocessing inside the graph' }
    } finally {
      await session.release()
    }
  }
  const model = format === 'tfjs' ? await loadTfjsModelDir(dir) : await loadKerasH5Model(join(dir, 'model.h5'))
  try {
    const parts = await predictBatched(predictWith(model, (x) => applyDocumentedPreprocessing(x, prep)), g, 16, signal)
    const runtime =
      format === 'tfjs'
        ? `TF.js (${tf.getBackend()} backend): model.json + shards re-loaded from disk, preprocessing.json applied`
        : `TF.js (${tf.getBackend()} backend): model rebuilt from the .h5 model_config and weights (h5wasm), preprocessing.json applied`
    return { probs: concat(parts), runtime }
  } finally {
    model.dispose()
  }
}

/** The app's model vs the exported artifact on the golden images (synthetic ones when the project's do not fit the model). */
export async function checkParity(p: ParityInput): Promise<ParityCheck> {
  const shape = p.model.inputs[0].shape
  const [, h, w] = shape as number[]
  const modelChannels = Number(shape[3])
  const fits = p.golden && p.golden.shape[1] === h && p.golden.shape[2] === w && p.golden.shape[3] === p.channels
  const golden = fits ? p.golden! : syntheticGolden(Math.min(p.images, 8), h, w, p.channels)
  const appProbs = concat(await predictBatched(predictWith(p.model, (x) => appPreprocess(x, p.preprocess, modelChannels)), golden, 16, p.signal))
  const prepOnDisk = PreprocessingJson.parse(JSON.parse(await readFile(join(p.dir, 'preprocessing.json'), 'utf8')))
  const exported = await runExported(p.format, p.dir, prepOnDisk, golden, p.signal)
  const n = golden.shape[0]
  const cmp = compareProbabilities(appProbs, exported.probs, n)
  const passed = cmp.maxAbsDiff <= PARITY_TOLERANCE && cmp.disagreements.length === 0
  const parity: ParityReport = {
    images: n,
    maxAbsDiff: cmp.maxAbsDiff,
    labelAgreement: cmp.labelAgreement,
    passed,
    tolerance: PARITY_TOLERANCE,
    runtime: exported.runtime,
    ...(passed ? {} : { warning: `The export does NOT predict like the app: max probability difference ${cmp.maxAbsDiff.toExponential(2)} (tolerance ${PARITY_TOLERANCE}), ${cmp.disagreements.length} of ${n} images get a different class.` }),
  }
  return { parity, golden, disagreements: cmp.disagreements }
}

/** parity.json: the report, which images were compared and which disagreed (by image id). */
export function parityFile(c: ParityCheck, format: ExportFormat, runId: string | null): string {
  const { parity, golden, disagreements } = c
  return JSON.stringify({ ...parity, source: golden.source, imageIds: Array.from(golden.ids), disagreements: disagreements.map((i) => golden.ids[i] ?? i), format, runId, createdAt: new Date().toISOString() }, null, 2) + '\n'
}

/** Reads an export's parity.json (for the UI). */
export async function readParity(dir: string): Promise<ParityReport | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'parity.json'), 'utf8')) as ParityReport
  } catch {
    return null
  }
}
