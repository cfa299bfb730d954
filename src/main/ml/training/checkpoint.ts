import * as tf from '@tensorflow/tfjs'
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * Checkpoints in TF.js layers format (model.json + weights.bin), written through a custom
 * tf.io handler into a temporary folder that replaces the old one by rename, so a crash at any
 * moment leaves either the previous or the new checkpoint, never a half-written one.
 * `last` checkpoints also carry the optimizer's weights (optimizer.json + optimizer.bin) and
 * the loop's state (state.json), which is what resume needs.
 */

async function writeSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'w')
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

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
      await writeSynced(join(dir, 'weights.bin'), weights)
      await writeSynced(join(dir, 'model.json'), JSON.stringify(modelJson))
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

export interface SavedOptimizer {
  className: string
  config: Record<string, unknown>
}

export interface CheckpointContent {
  model: tf.LayersModel
  optimizer?: tf.Optimizer
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
      await writeSynced(join(tmp, 'optimizer.bin'), toBytes(data))
      await writeSynced(join(tmp, 'optimizer.json'), JSON.stringify({ className: cls, config: c.optimizer.getConfig(), specs }))
    }
    if (c.state !== undefined) await writeSynced(join(tmp, 'state.json'), JSON.stringify(c.state))
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

/** Copies weights from a saved checkpoint into `model` (same architecture). */
export async function loadCheckpointWeightsInto(dir: string, model: tf.LayersModel): Promise<void> {
  const saved = await loadCheckpointModel(dir)
  try {
    const src = saved.getWeights()
    const dst = model.getWeights()
    if (src.length !== dst.length) throw new Error(`Checkpoint ${dir} has ${src.length} weight tensors but the model has ${dst.length}: they are different architectures.`)
    model.setWeights(src)
  } finally {
    saved.dispose()
  }
}

/** Restores optimizer state written by writeCheckpoint into an optimizer of the same kind. */
export async function loadOptimizerWeights(dir: string, optimizer: tf.Optimizer): Promise<boolean> {
  const jsonPath = join(dir, 'optimizer.json')
  if (!(await exists(jsonPath))) return false
  const meta = JSON.parse(await readFile(jsonPath, 'utf8')) as { className: string; specs: tf.io.WeightsManifestEntry[] }
  const cls = (optimizer.constructor as unknown as { className: string }).className
  if (meta.className !== cls) throw new Error(`The checkpoint's optimizer is ${meta.className} but this run uses ${cls}; resume with the same optimizer.`)
  const b = await readFile(join(dir, 'optimizer.bin'))
  const map = tf.io.decodeWeights(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, meta.specs)
  const named = meta.specs.map((s) => ({ name: s.name, tensor: map[s.name] }))
  await optimizer.setWeights(named)
  tf.dispose(Object.values(map))
  return true
}

export async function readCheckpointState<T>(dir: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as T
  } catch {
    return null
  }
}
