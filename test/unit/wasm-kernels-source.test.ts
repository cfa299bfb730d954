import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'

const hasWabt = spawnSync('wat2wasm', ['--version']).status === 0

describe('hand-written wasm kernels', () => {
  // CI installs wabt (.ci/run), so there this always runs.
  it.skipIf(!hasWabt)('the embedded bytes are what wat2wasm makes of each .wat source', () => {
    const r = spawnSync(process.execPath, ['scripts/wasm-kernels.mjs', '--check'], { encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
  })
})
