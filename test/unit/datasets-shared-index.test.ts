import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { importDataset, loadDatasetIndexShared, setExcluded } from '../../src/main/services/datasets'
import { createProject } from '../../src/main/services/projects'
import { isolatedHome, tempDir } from '../helpers/env'
import { writeShapesDataset } from '../helpers/shapes'

const tmp = tempDir()
const home = isolatedHome()
afterAll(() => {
  tmp.cleanup()
  home.cleanup()
})

describe('shared read-only dataset index', () => {
  it('parses once while the file is unchanged and sees every change made through the service', async () => {
    const p = await createProject(join(tmp.dir, 'p'))
    await writeShapesDataset(join(tmp.dir, 'data'), 4)
    await importDataset(p.dir, join(tmp.dir, 'data'), { size: 32 })
    const a = await loadDatasetIndexShared(p.dir)
    expect(await loadDatasetIndexShared(p.dir)).toBe(a) // same object: no re-parse
    expect(a!.items[0].excluded).toBeUndefined()
    await setExcluded(p.dir, [0], true)
    const b = await loadDatasetIndexShared(p.dir)
    expect(b).not.toBe(a)
    expect(b!.items[0].excluded).toBe(true)
    expect(a!.items[0].excluded).toBeUndefined() // the update did not write through the shared copy
  })
})
