import { AppError } from '../../../shared/errors'
import { loadDatasetIndex, saveDatasetIndex } from './cache'
import { withDatasetLock } from './import'

/**
 * Gives items a new label in the project's index (atomically, under the dataset lock): the
 * user's files stay where they are, and training reads the new label. Returns how many changed.
 */
export async function setLabel(projectDir: string, ids: ArrayLike<number>, label: string): Promise<number> {
  return withDatasetLock(projectDir, async () => {
    const idx = await loadDatasetIndex(projectDir)
    if (!idx || idx.items.length === 0) throw new AppError('NOT_FOUND', `The project at ${projectDir} has no images yet.`, 'Import a folder of images first.')
    const to = idx.classes.indexOf(label)
    if (to < 0) throw new AppError('INVALID_INPUT', `There is no class "${label}" in this project.`, `Pick one of its classes: ${idx.classes.join(', ')}.`)
    let changed = 0
    for (const i of Array.from(ids)) {
      const it = idx.items[i]
      if (!it) throw new AppError('NOT_FOUND', `No dataset item with id ${i} (the dataset has ids 0..${idx.items.length - 1}).`)
      if (it.label !== to) {
        it.label = to
        changed++
      }
    }
    if (changed) await saveDatasetIndex(projectDir, idx)
    return changed
  })
}
