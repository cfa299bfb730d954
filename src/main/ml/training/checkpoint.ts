import * as tf from '@tensorflow/tfjs'
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { AppError } from '../../../shared/errors'
import { writeFileSynced } from '../../platform/fs-atomic'

/**
 * Checkpoints in TF.js layers format (model.json + weights.bin), written through a custom
 * tf.io handler into a temporary folder that replaces the old one by rename, so a crash at any
 * moment leaves either the previous or the new checkpoint, never a half-written one.
 * `last` checkpoints also carry the optimizer's weights (optimizer.json + optimizer.bin) and
 * the loop's state (state.json), which is what resume needs.
 */

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

function toBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data == null) return new Uint8Array(0)
  const buf = Array.isArray(data) ? tf.io.CompositeArrayBuffer.join(data) : data
  return new Uint8Array(buf)
}

/** A tf.io save handler writing model.json + weights.bin into `dir` (which must exist). */
export function fileSaveHandler(dir: string, metadata?: Record<string, unknown>): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      const weights = toBytes(artifacts.weightData)
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        ...(metadata ? { userDefinedMetadata: metadata as Record<string, object> } : {}),
      }
      await writeFileSynced(join(dir, 'weights.bin'), weights)
      await writeFileSynced(join(dir, 'model.json'), JSON.stringify(modelJson))
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(modelJson) }
    },
  }
}

/** A tf.io load handler reading model.json + its weight files from `dir`. */
export function fileLoadHandler(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = []
        const parts: ArrayBuffer[] = []
        for (const group of manifest) {
          specs.push(...group.weights)
          for (const p of group.paths) {
            const b = await readFile(join(dir, p))
            parts.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer)
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(parts)]
      })
    },
  }
}

export interface CheckpointContent {
  model: tf.LayersModel
  optimizer?: tf.Optimizer
  /**
   * Names (originalName) of the variables the optimizer updates, in the order it was given them:
   * its per-variable slots (Adam's moments, RMSprop's mean squares) are kept by position, so
   * resume needs this order to put each slot back on its variable.
   */
  optimizerVariables?: string[]
  /** Free JSON (loop state: epoch, callbacks, learning rate, history). */
  state?: unknown
  metadata?: Record<string, unknown>
}

/** Writes `<checkpointsDir>/<name>` atomically (temp folder + rename). */
export async function writeCheckpoint(checkpointsDir: string, name: string, c: CheckpointContent): Promise<void> {
  await mkdir(checkpointsDir, { recursive: true })
  const tag = randomBytes(4).toString('hex')
  const tmp = join(checkpointsDir, `.${name}.tmp-${tag}`)
  await mkdir(tmp, { recursive: true })
  try {
    await c.model.save(fileSaveHandler(tmp, c.metadata))
    if (c.optimizer) {
      const named = await c.optimizer.getWeights()
      const { data, specs } = await tf.io.encodeWeights(named)
      // getWeights() returns the optimizer's variables plus a fresh 'iter' scalar: free the latter.
      tf.dispose(named.filter((n) => !(n.tensor instanceof tf.Variable)).map((n) => n.tensor))
      const cls = (c.optimizer.constructor as unknown as { className: string }).className
      await writeFileSynced(join(tmp, 'optimizer.bin'), toBytes(data))
      await writeFileSynced(join(tmp, 'optimizer.json'), JSON.stringify({ className: cls, config: c.optimizer.getConfig(), specs, ...(c.optimizerVariables ? { variables: c.optimizerVariables } : {}) }))
    }
    if (c.state !== undefined) await writeFileSynced(join(tmp, 'state.json'), JSON.stringify(c.state))
    const final = join(checkpointsDir, name)
    const old = join(checkpointsDir, `.${name}.old-${tag}`)
    const hadOld = await exists(final)
    if (hadOld) await rename(final, old)
    await rename(tmp, final)
    if (hadOld) await rm(old, { recursive: true, force: true })
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}

/** The folder of checkpoint `name`, recovering the previous one if a crash hit mid-swap; null if none. */
export async function checkpointDir(checkpointsDir: string, name: string): Promise<string | null> {
  const final = join(checkpointsDir, name)
  if (await exists(join(final, 'model.json'))) return final
  let entries: string[] = []
  try {
    entries = await readdir(checkpointsDir)
  } catch {
    return null
  }
  const old = entries.find((e) => e.startsWith(`.${name}.old-`))
  if (old && (await exists(join(checkpointsDir, old, 'model.json')))) {
    await rename(join(checkpointsDir, old), final).catch(() => undefined)
    return (await exists(join(final, 'model.json'))) ? final : join(checkpointsDir, old)
  }
  return null
}

export async function loadCheckpointModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileLoadHandler(dir))
}

/** A checkpoint that cannot be read back: names the folder and what is wrong with it. */
export function damagedCheckpoint(dir: string, what: string): AppError {
  return new AppError('PROJECT_DAMAGED', `The checkpoint in ${dir} is damaged: ${what}.`, 'Nothing was changed. A run whose last checkpoint is damaged cannot continue; start a new run (its best checkpoint, if any, still predicts and exports).')
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 }

function specBytes(s: tf.io.WeightsManifestEntry): number | null {
  const n = s.shape.reduce((a, b) => a * b, 1)
  const dtype = s.quantization?.dtype ?? s.dtype
  const per = DTYPE_BYTES[dtype]
  return per == null ? null : n * per
}

/** Reads a weights manifest + its files, checking that the bytes are all there. Caller disposes the tensors. */
async function readWeightFiles(dir: string, file: string): Promise<{ names: string[]; map: tf.NamedTensorMap }> {
  let json: tf.io.ModelJSON
  try {
    json = JSON.parse(await readFile(join(dir, file), 'utf8')) as tf.io.ModelJSON
  } catch (e) {
    throw damagedCheckpoint(dir, `${file} cannot be read (${(e as Error).message})`)
  }
  if (!Array.isArray(json.weightsManifest)) throw damagedCheckpoint(dir, `${file} has no weights manifest`)
  const specs: tf.io.WeightsManifestEntry[] = []
  const parts: Buffer[] = []
  for (const group of json.weightsManifest) {
    specs.push(...group.weights)
    for (const p of group.paths) {
      try {
        parts.push(await readFile(join(dir, p)))
      } catch (e) {
        throw damagedCheckpoint(dir, `its weights file ${p} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
      }
    }
  }
  const all = Buffer.concat(parts)
  const sizes = specs.map(specBytes)
  if (sizes.every((b) => b != null)) {
    const want = (sizes as number[]).reduce((a, b) => a + b, 0)
    if (all.byteLength !== want) throw damagedCheckpoint(dir, `its weights are ${all.byteLength} bytes where ${specs.length} tensors need ${want} (a truncated or overwritten file)`)
  }
  let map: tf.NamedTensorMap
  try {
    map = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer, specs)
  } catch (e) {
    throw damagedCheckpoint(dir, `its weights cannot be decoded (${(e as Error).message})`)
  }
  return { names: specs.map((s) => s.name), map }
}

/**
 * The checkpoint's weights in the order of `model.weights` (what model.setWeights takes).
 * Matched by name (each weight's originalName, as tf.io saved them); when the names differ (a
 * model whose layers were auto-named in another session) by the checkpoint's own order, which
 * is the order of `model.weights` of the model that saved it. That order puts trainable weights
 * first, so it depends on what is frozen: a model loaded back from the checkpoint (everything
 * trainable) lists them differently than the training model (a frozen base after the head),
 * which is why resume reads the checkpoint file instead of copying from a reloaded model.
 * Every shape is checked. The caller disposes the returned tensors.
 */
export async function readCheckpointWeights(dir: string, model: tf.LayersModel): Promise<tf.Tensor[]> {
  const { names, map } = await readWeightFiles(dir, 'model.json')
  const targets = model.weights
  try {
    const byName = new Map<string, number>()
    targets.forEach((w, i) => byName.set(w.originalName, i))
    const uniqueNames = byName.size === targets.length
    const sameNames = uniqueNames && names.length === targets.length && names.every((n) => byName.has(n))
    const out: tf.Tensor[] = sameNames ? targets.map((w) => map[w.originalName]) : names.map((n) => map[n])
    if (out.length !== targets.length)
      throw new AppError('INVALID_INPUT', `The checkpoint in ${dir} has ${out.length} weight tensors but this model has ${targets.length}: they are different architectures.`, 'Resume continues a run with the model it was started with; start a new run instead.')
    const bad = targets.findIndex((w, i) => w.shape.join() !== out[i].shape.join())
    if (bad >= 0)
      throw new AppError('INVALID_INPUT', `The checkpoint in ${dir} does not fit this model: ${targets[bad].originalName} is ${targets[bad].shape.join('x')} in the model but ${out[bad].shape.join('x')} in the checkpoint${sameNames ? '' : ` (${names[bad]})`}.`, 'Resume continues a run with the model it was started with; start a new run instead.')
    const keep = new Set(out)
    tf.dispose(Object.values(map).filter((t) => !keep.has(t)))
    return out
  } catch (err) {
    tf.dispose(Object.values(map))
    throw err
  }
}

/** Copies the weights of a saved checkpoint into `model` (same architecture; see readCheckpointWeights). */
export async function loadCheckpointWeightsInto(dir: string, model: tf.LayersModel): Promise<void> {
  const ws = await readCheckpointWeights(dir, model)
  try {
    model.setWeights(ws)
  } finally {
    tf.dispose(ws)
  }
}

/** Whether loadOptimizerWeights put the saved state back, and if not, why. */
export type OptimizerRestore = { restored: true } | { restored: false; reason: string }

/**
 * Restores optimizer state written by writeCheckpoint into an optimizer of the same kind that
 * updates `variables` (their originalNames, in the order the optimizer is given them). Slots are
 * put back on the variable they belong to, by name when the checkpoint recorded the names.
 * A state that does not fit is not loaded: the reason is returned (the run can continue with a
 * fresh optimizer, Adam's moments being rebuilt within a few steps).
 */
export async function loadOptimizerWeights(dir: string, optimizer: tf.Optimizer, variables?: string[]): Promise<OptimizerRestore> {
  const jsonPath = join(dir, 'optimizer.json')
  if (!(await exists(jsonPath))) return { restored: false, reason: 'the checkpoint has no optimizer state' }
  let meta: { className: string; specs: tf.io.WeightsManifestEntry[]; variables?: string[] }
  let map: tf.NamedTensorMap
  try {
    meta = JSON.parse(await readFile(jsonPath, 'utf8')) as typeof meta
    const b = await readFile(join(dir, 'optimizer.bin'))
    const want = meta.specs.reduce((a, s) => a + (specBytes(s) ?? 0), 0)
    if (b.byteLength !== want) return { restored: false, reason: `optimizer.bin is ${b.byteLength} bytes where its manifest needs ${want}` }
    map = tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, meta.specs)
  } catch (e) {
    return { restored: false, reason: `its optimizer state cannot be read (${(e as Error).message})` }
  }
  try {
    const cls = (optimizer.constructor as unknown as { className: string }).className
    if (meta.className !== cls) return { restored: false, reason: `the checkpoint's optimizer is ${meta.className} but this run uses ${cls}` }
    let named = meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] }))
    const iter = named.filter((n) => n.name === 'iter')
    const slots = named.filter((n) => n.name !== 'iter')
    if (variables) {
      const n = variables.length
      if (slots.length > 0 && (n === 0 || slots.length % n !== 0)) return { restored: false, reason: `it holds ${slots.length} slot tensors for the ${n} variables this run trains` }
      const saved = meta.variables
      if (saved && saved.length !== n && slots.length > 0) return { restored: false, reason: `it was saved for ${saved.length} variables and this run trains ${n}` }
      const pos = saved ? variables.map((v) => saved.indexOf(v)) : []
      if (saved && slots.length > 0 && pos.every((p) => p >= 0) && new Set(pos).size === n) {
        // Slot groups (Adam: first moments, then second moments) each list the variables in the saved order.
        const groups = slots.length / n
        const reordered: typeof slots = []
        for (let g = 0; g < groups; g++) for (const p of pos) reordered.push(slots[g * n + p])
        named = [...iter, ...reordered]
      }
      // Otherwise (no saved names, or layers auto-named in another session) the same number of
      // variables in the model's order, which is the order they were saved in.
    }
    await optimizer.setWeights(named)
    resumeAdamPowers(optimizer)
    return { restored: true }
  } finally {
    tf.dispose(Object.values(map))
  }
}

/**
 * tfjs's Adam setWeights sets beta^(t+1) with the backend's pow (on wasm a few ulps off), while
 * its steps multiply by beta once a step in float32: the same products here make a resumed run
 * equal to the uninterrupted one, bit for bit.
 */
function resumeAdamPowers(optimizer: tf.Optimizer): void {
  const o = optimizer as unknown as { accBeta1?: tf.Variable; accBeta2?: tf.Variable; beta1: number; beta2: number; iterations: number }
  if (!o.accBeta1 || !o.accBeta2) return
  const power = (beta: number): number => {
    let p = Math.fround(beta)
    for (let t = 0; t < o.iterations; t++) p = Math.fround(p * Math.fround(beta))
    return p
  }
  tf.tidy(() => {
    o.accBeta1!.assign(tf.scalar(power(o.beta1)))
    o.accBeta2!.assign(tf.scalar(power(o.beta2)))
  })
}

/** The loop state saved with a `last` checkpoint; null when the checkpoint has none. Throws when it is unreadable. */
export async function readCheckpointState<T>(dir: string): Promise<T | null> {
  let text: string
  try {
    text = await readFile(join(dir, 'state.json'), 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw damagedCheckpoint(dir, `state.json cannot be read (${(e as Error).message})`)
  }
  try {
    return JSON.parse(text) as T
  } catch (e) {
    throw damagedCheckpoint(dir, `state.json is not valid JSON (${(e as Error).message})`)
  }
}
