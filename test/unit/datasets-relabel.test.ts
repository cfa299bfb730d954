import { describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importDataset, loadDatasetIndex, setLabel } from '../../src/main/services/datasets'
import { projectDataSource } from '../../src/main/services/training/project-data'
import { AppError } from '../../src/shared/errors'

async function project(): Promise<{ dir: string; src: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'rl-proj-'))
  const now = new Date().toISOString()
  await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'p', createdAt: now, updatedAt: now, settings: { inputSize: 16, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state: {} }))
  const src = await mkdtemp(join(tmpdir(), 'rl-src-'))
  for (const [c, shade] of [['cats', 10], ['dogs', 200]] as const) {
    await mkdir(join(src, c))
    for (let i = 0; i < 6; i++) await writeFile(join(src, c, `${i}.png`), await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: shade, g: i * 20, b: 0 } } }).png().toBuffer())
  }
  return { dir, src }
}

describe('datasets.relabel', () => {
  it('changes the label in the index only: files stay, re-import keeps it, training reads it', async () => {
    const { dir, src } = await project()
    await importDataset(dir, src, { size: 16, val: 0 })
    const before = (await loadDatasetIndex(dir))!
    const cat = before.items.find((it) => before.classes[it.label] === 'cats')!
    const bytes = await readFile(cat.src)
    const fpBefore = await (await projectDataSource(dir)).fingerprint()

    expect(await setLabel(dir, [cat.id], 'dogs')).toBe(1)
    expect(await setLabel(dir, [cat.id], 'dogs')).toBe(0)
    const after = (await loadDatasetIndex(dir))!
    expect(after.classes[after.items[cat.id].label]).toBe('dogs')
    expect(await readFile(cat.src)).toEqual(bytes)
    expect((await readdir(join(src, 'cats'))).length).toBe(6)

    const data = await projectDataSource(dir)
    expect(Array.from(await data.labels('train')).filter((l) => l === after.classes.indexOf('dogs')).length).toBe(7)
    expect(await data.fingerprint()).not.toBe(fpBefore)

    const again = await importDataset(dir, src, { size: 16, val: 0 })
    expect(again).toMatchObject({ added: 0, unchanged: 12 })
    const kept = (await loadDatasetIndex(dir))!
    expect(kept.classes[kept.items[cat.id].label]).toBe('dogs')
  })

  it('refuses a class the project does not have and an unknown id, changing nothing', async () => {
    const { dir, src } = await project()
    await importDataset(dir, src, { size: 16, val: 0 })
    const text = await readFile(join(dir, 'dataset', 'index.json'), 'utf8')
    await expect(setLabel(dir, [0], 'birds')).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('birds') })
    await expect(setLabel(dir, [0, 999], 'dogs')).rejects.toBeInstanceOf(AppError)
    expect(await readFile(join(dir, 'dataset', 'index.json'), 'utf8')).toBe(text)
  })
})
