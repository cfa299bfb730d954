/**
 * CLI start-up: `classifier-studio --help` and a usage error (the compiled bundle) against node
 * itself and the old path (TypeScript through tsx), alternating in one run.
 * Run: npx tsx bench/cli.ts [--runs 20]
 */
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const MAX_LOAD = 0.5

const CASES: { name: string; args: string[]; code: number }[] = [
  { name: 'classifier-studio --help', args: ['bin/classifier-studio.mjs', '--help'], code: 0 },
  { name: 'usage error (train --frobnicate)', args: ['bin/classifier-studio.mjs', 'train', 'p', '--frobnicate'], code: 2 },
  { name: 'node -e 0', args: ['-e', '0'], code: 0 },
  { name: 'old: node --import tsx src/cli/main.ts --help', args: ['--import', 'tsx', 'src/cli/main.ts', '--help'], code: 0 },
]

/** Wall seconds of one run; throws when it does not end as expected. */
function time(args: string[], code: number): number {
  const t = process.hrtime.bigint()
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' })
  const s = Number(process.hrtime.bigint() - t) / 1e9
  if (r.status !== code) throw new Error(`node ${args.join(' ')} exited ${r.status} (expected ${code}):\n${r.stderr}`)
  return s
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const runs = Number(parseArgs({ options: { runs: { type: 'string', default: '20' } } }).values.runs)
// One unmeasured run first: builds out/node when it is missing or stale.
time(CASES[0].args, 0)
const load0 = loadavg()[0]
const times = CASES.map(() => [] as number[])
for (let i = 0; i < runs; i++) CASES.forEach((c, k) => times[k].push(time(c.args, c.code)))
const load1 = loadavg()[0]

const node = median(times[2])
console.log(`node ${process.version}, ${runs} runs each, alternating; load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after\n`)
// The bench keeps one process running itself, which adds up to 1 to the load average after.
const quiet = load0 <= MAX_LOAD && load1 <= MAX_LOAD + 1
for (const [k, c] of CASES.entries()) {
  const ratio = quiet ? `  ${(median(times[k]) / node).toFixed(1)}x node` : ''
  console.log(`${c.name.padEnd(48)} median ${median(times[k]).toFixed(3)} s${ratio}`)
}
if (!quiet) console.log(`\nNo ratios: the load average was above ${MAX_LOAD} (another job shares the machine), so they would measure it, not the CLI. Run again on a quiet machine.`)
