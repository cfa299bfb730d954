#!/usr/bin/env node
// Runs the CLI compiled to JavaScript (out/node), building it first when it is missing or older
// than its sources (scripts/build-node.mjs), so no TypeScript is compiled at start-up.
import { buildCli, cliBuildState } from '../scripts/build-node.mjs'

const build = cliBuildState()
if (build.state !== 'fresh') {
  process.stderr.write(build.state === 'missing' ? 'Building the CLI (once)…\n' : `Rebuilding the CLI (${build.changed} changed)…\n`)
  await buildCli()
}
await import('../out/node/main.js')
