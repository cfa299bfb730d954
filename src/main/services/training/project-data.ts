import { createHash } from 'node:crypto'
import { AppError } from '../../../shared/errors'
import type { Split } from '../../../shared/project'
import type { BatchOptions, DataSource, RawBatch } from '../../ml/training/data'
import { loadDatasetIndex } from '../datasets/cache'
import { batches, splitIds } from '../datasets/read'

/** The project's imported dataset as a training DataSource (streams from the chunked pixel cache). */
export async function projectDataSource(projectDir: string): Promise<DataSource> {
  const idx = await loadDatasetIndex(projectDir)
  if (!idx || idx.items.length === 0)
    throw new AppError('INVALID_INPUT', `The project at ${projectDir} has no images to train on.`, `Import a folder of images first (one sub-folder per class): classifier-studio import ${projectDir} <folder>, or Import in the Data view.`)
  const s = idx.settings
  const labelsOf = (split: Split) => Int32Array.from(splitIds(idx, split), (id) => idx.items[id].label)
  let fp: string | null = null
  return {
    classNames: idx.classes.slice(),
    imageShape: [s.inputSize, s.inputSize, s.channels],
    labels: async (split) => labelsOf(split),
    batches: (split: Split, o: BatchOptions): AsyncGenerator<RawBatch> => batches(projectDir, split, { batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed, epoch: 0 }),
    fingerprint: async () => {
      if (fp) return fp
      const h = createHash('sha256')
      h.update(JSON.stringify({ settings: s, classes: idx.classes }))
      for (const it of idx.items) if (!it.excluded && !it.stale) h.update(`${it.id}:${it.label}:${it.split}:${it.hash};`)
      fp = h.digest('hex').slice(0, 16)
      return fp
    },
  }
}
