/**
 * TF.js layers-model export: model.json + weight shards of at most 4 MB ("group1-shardKofN.bin", as
 * tensorflowjs_converter writes them), through a custom tf.io save handler; and loading it back from disk.
 */
import * as tf from '@tensorflow/tfjs'
import { join } from 'node:path'
import { readTfjsModelFiles } from '../weights/tfjs'

export const SHARD_BYTES = 4 * 1024 * 1024

/** Where the export's bytes go; the service passes one that maps disk errors to clear messages. */
export type WriteFile = (path: string, data: string | Uint8Array) => Promise<void>

/** Saves `model` into `dir` as model.json + shards. Returns the file names written. */
export async function writeTfjsModel(model: tf.LayersModel, dir: string, writeFile: WriteFile, metadata?: Record<string, unknown>): Promise<string[]> {
  const files: string[] = []
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const data = artifacts.weightData == null ? new ArrayBuffer(0) : Array.isArray(artifacts.weightData) ? tf.io.CompositeArrayBuffer.join(artifacts.weightData) : artifacts.weightData
      const bytes = new Uint8Array(data)
      const n = Math.max(1, Math.ceil(bytes.length / SHARD_BYTES))
      const paths: string[] = []
      for (let i = 0; i < n; i++) {
        const name = `group1-shard${i + 1}of${n}.bin`
        await writeFile(join(dir, name), bytes.subarray(i * SHARD_BYTES, Math.min(bytes.length, (i + 1) * SHARD_BYTES)))
        paths.push(name)
      }
      const modelJson: tf.io.ModelJSON = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: 'Classifier Studio',
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
        ...(metadata ? { userDefinedMetadata: metadata as Record<string, object> } : {}),
      }
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson))
      files.push('model.json', ...paths)
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(modelJson) }
    }),
  )
  return files
}

/** Loads a TF.js layers model from model.json and its shards on disk (what a user's tf.loadLayersModel does). */
export async function loadTfjsModelDir(dir: string): Promise<tf.LayersModel> {
  const artifacts = await readTfjsModelFiles(join(dir, 'model.json'))
  return tf.loadLayersModel(tf.io.fromMemory(artifacts))
}
