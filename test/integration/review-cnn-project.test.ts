import { describe, expect, it } from 'vitest'
import { renameSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importDataset } from '../../src/main/services/datasets'
import { reviewDataset } from '../../src/main/services/review'
import { presetSpec } from '../../src/main/ml/models'
import { writeClassesDataset } from '../e2e/pages/fixes'

describe('review of a project without a pretrained base', () => {
  it('a 32 px CNN project is reviewed on the built-in MobileNetV2 (said so) and its misfiled image is listed', async () => {
    const src = await mkdtemp(join(tmpdir(), 'review-cnn-src-'))
    await writeClassesDataset(src, ['circle', 'square', 'triangle'], 20, 32)
    renameSync(join(src, 'circle', 'circle-4.png'), join(src, 'triangle', 'circle-4.png'))
    const dir = await mkdtemp(join(tmpdir(), 'review-cnn-proj-'))
    const now = new Date().toISOString()
    const state = { model: presetSpec('cats-dogs-cnn') }
    await writeFile(join(dir, 'project.json'), JSON.stringify({ schemaVersion: 1, name: 'cnn', createdAt: now, updatedAt: now, settings: { inputSize: 32, resizeMode: 'squash', background: '#ffffff', channels: 3 }, state }))
    await importDataset(dir, src, { size: 32 })
    const phases = new Set<string>()
    const r = await reviewDataset(dir, { onProgress: (p) => phases.add(p.phase) })
    expect(r.features).toContain('built-in MobileNetV2')
    expect(r.reviewed).toBe(60)
    expect([...phases]).toEqual(['features', 'folds'])
    expect(r.issues.map((i) => i.file.split('/').slice(-2).join('/'))).toContain('triangle/circle-4.png')
    expect(r.issues.find((i) => i.file.endsWith('circle-4.png'))).toMatchObject({ label: 'triangle', suggested: 'circle' })
  })
})
