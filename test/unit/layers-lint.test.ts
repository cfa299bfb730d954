import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

// The layer rules of eslint.config.js: each wrong arrow below must fail `npm run lint`, each
// right one must pass, and the real tree must have none.
const root = fileURLToPath(new URL('../..', import.meta.url))
const LAYER_RULES = new Set(['no-restricted-imports', 'no-restricted-syntax'])
const eslint = new ESLint({ cwd: root, ruleFilter: ({ ruleId }) => LAYER_RULES.has(ruleId) })

async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return result.messages.filter((m) => m.ruleId && LAYER_RULES.has(m.ruleId)).map((m) => m.message)
}

const wrong: [string, string, string][] = [
  ['shared imports main', 'src/shared/probe.ts', "import { readProject } from '../main/services/projects'"],
  ['shared imports the renderer', 'src/shared/probe.ts', "import { useProjectsStore } from '../renderer/src/stores/projects'"],
  ['shared imports a Node module', 'src/shared/probe.ts', "import { readFile } from 'node:fs/promises'"],
  ['shared imports a Node module without node:', 'src/shared/probe.ts', "import { join } from 'path'"],
  ['platform imports services', 'src/main/platform/probe.ts', "import { readProject } from '../services/projects'"],
  ['ml imports services', 'src/main/ml/training/probe.ts', "import { batches } from '../../services/datasets'"],
  ['ml imports services by dynamic import()', 'src/main/ml/training/probe.ts', "export const load = () => import('../../services/training/project-data')"],
  ['ml imports a type from services', 'src/main/ml/weights/probe.ts', "import type { TrainerProcess } from '../../services/training'"],
  ['ml imports the worker', 'src/main/ml/probe.ts', "import { serveTrainer } from '../worker/serve'"],
  ['ml imports the web bridge', 'src/main/ml/probe.ts', "import { startStudio } from '../web/studio'"],
  ['ml imports the cli', 'src/main/ml/probe.ts', "import { run } from '../../cli/main'"],
  ['ml imports electron', 'src/main/ml/probe.ts', "import { app } from 'electron'"],
  ['services imports the worker', 'src/main/services/training/probe.ts', "import { serveTrainer } from '../../worker/serve'"],
  ['services imports the web bridge', 'src/main/services/probe.ts', "export { startStudio } from '../web/studio'"],
  ['services imports the cli', 'src/main/services/probe.ts', "import { run } from '../../cli/main'"],
  ['services imports electron', 'src/main/services/probe.ts', "import { utilityProcess } from 'electron'"],
  ['the renderer imports main', 'src/renderer/src/stores/probe.ts', "import { createHandlers } from '../../../main/services/handlers'"],
  ['a view imports main', 'src/renderer/src/views/Probe.vue', "<script setup lang=\"ts\">\nimport { createHandlers } from '../../../main/services/handlers'\n</script>\n\n<template><div /></template>\n"],
]

const right: [string, string, string][] = [
  ['shared imports zod', 'src/shared/probe.ts', "import { z } from 'zod'"],
  ['ml imports platform and shared', 'src/main/ml/training/probe.ts', "import { writeFileAtomic } from '../../platform/fs-atomic'\nimport { AppError } from '../../../shared/errors'"],
  ['services imports ml', 'src/main/services/training/probe.ts', "import { runsDir } from '../../ml/training/runs'"],
  ['the worker imports services and ml', 'src/main/worker/probe.ts', "import { projectDataSource } from '../services/training/project-data'\nimport { runTraining } from '../ml/training/train'"],
  ['the renderer imports shared', 'src/renderer/src/stores/probe.ts', "import type { ProjectInfo } from '../../../shared/contract'"],
]

describe('layer rules', () => {
  it.each(wrong)('%s: an error', async (_, filePath, code) => {
    const errors = await layerErrors(filePath, code)
    expect(errors.length).toBe(1)
    expect(errors[0]).toMatch(/Layer rule: /)
  })

  it.each(right)('%s: allowed', async (_, filePath, code) => {
    expect(await layerErrors(filePath, code)).toEqual([])
  })

  it('the source tree has no wrong arrow', async () => {
    const results = await eslint.lintFiles(['src'])
    const wrongArrows = results.flatMap((r) => r.messages.filter((m) => m.ruleId && LAYER_RULES.has(m.ruleId)).map((m) => `${r.filePath.slice(root.length)}:${m.line}: ${m.message}`))
    expect(wrongArrows).toEqual([])
  }, 240_000)
})
