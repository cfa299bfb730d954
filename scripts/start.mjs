#!/usr/bin/env node
// `npm start`: the Electron app when its binary is present; otherwise (as on machines where the
// binary cannot be downloaded) one clear line, then the same UI served to a browser (built on
// demand by `serve`).
import { spawnSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

function electronBinary() {
  try {
    const dir = require.resolve('electron/package.json').replace(/package\.json$/, '')
    const pathTxt = dir + 'path.txt'
    if (!existsSync(pathTxt)) return null
    const bin = require('node:fs').readFileSync(pathTxt, 'utf8').trim()
    return existsSync(dir + 'dist/' + bin) ? dir + 'dist/' + bin : null
  } catch {
    return null
  }
}

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (electronBinary() && !process.env.CLASSIFIER_STUDIO_WEB) {
  run('npx', ['electron-vite', 'build'])
  spawn('npx', ['electron-vite', 'preview'], { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0))
} else {
  console.log(
    process.env.CLASSIFIER_STUDIO_WEB
      ? 'CLASSIFIER_STUDIO_WEB is set, so Classifier Studio opens in your browser:'
      : 'Electron is not available on this machine (its binary is not installed), so Classifier Studio opens in your browser instead:',
  )
  // `serve` builds the browser UI first when it is missing or older than its sources (one line says so).
  spawn(process.execPath, ['bin/classifier-studio.mjs', 'serve', ...process.argv.slice(2)], { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0))
}
