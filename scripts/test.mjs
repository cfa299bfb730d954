#!/usr/bin/env node
// `npm test`: builds the web studio (the e2e tests drive it) and the compiled CLI (once, not in
// every test file that runs it), runs vitest, then prints the plain `N passed, N failed, N skipped`
// line CI reads. Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
const buildWeb = () => spawnSync('npx', ['vite', 'build', '--config', 'vite.web.config.ts', '--logLevel', 'warn'], { stdio: 'inherit', env })
const buildCli = () => spawnSync(process.execPath, ['scripts/build-node.mjs'], { stdio: 'inherit', env })
if (buildWeb().status !== 0 || buildCli().status !== 0) {
  console.log('0 passed, 1 failed')
  process.exit(1)
}
const dir = mkdtempSync(join(tmpdir(), 'cs-vitest-'))
const report = join(dir, 'report.json')
const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], { stdio: 'inherit', env })
let passed = 0
let failed = 0
let skipped = 0
try {
  const r = JSON.parse(readFileSync(report, 'utf8'))
  passed = r.numPassedTests
  skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  failed = r.numFailedTests
  // A file that fails to load, or in a beforeAll/afterAll hook, has no failed test counted
  // (its tests show as skipped): count the file as a failure.
  for (const f of r.testResults ?? []) if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) failed += 1
  // Name what failed once more, right above the summary line (the reporter's output is long).
  for (const f of r.testResults ?? [])
    if (f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')) console.log(`FAILED ${f.name.replace(process.cwd() + '/', '')} (the file: ${(f.message || 'it failed to load or in a beforeAll/afterAll hook').split('\n')[0]})`)
    else for (const a of f.assertionResults ?? []) if (a.status === 'failed') console.log(`FAILED ${f.name.replace(process.cwd() + '/', '')} > ${a.fullName}`)
} catch {
  failed = Math.max(1, failed)
}
rmSync(dir, { recursive: true, force: true })
if (run.status !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(failed > 0 ? 1 : 0)
