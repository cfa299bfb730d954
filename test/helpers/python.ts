import { spawnSync } from 'node:child_process'

/** The reference peers run on Debian's Python (python3-* packages, never pip). */
export const PY = '/usr/bin/python3'

const PACKAGE: Record<string, string> = { h5py: 'python3-h5py', numpy: 'python3-numpy', onnx: 'python3-onnx', PIL: 'python3-pil', sklearn: 'python3-sklearn', torch: 'python3-torch', torchvision: 'python3-torchvision' }
const seen = new Map<string, string | null>()

/**
 * Why a test compared with a Python reference cannot run here (null: it can): the modules it needs
 * and the Debian packages that bring them, said once per file. Under CI (CI=1, where .ci/run installs
 * them) it is always null, so a missing module fails the test instead of skipping it.
 */
export function pythonLacks(...modules: string[]): string | null {
  if (process.env.CI) return null
  const key = modules.join(',')
  if (!seen.has(key)) {
    const missing = modules.filter((m) => spawnSync(PY, ['-c', `import ${m}`]).status !== 0)
    const why = missing.length ? `${PY} cannot import ${missing.join(', ')}; apt install ${missing.map((m) => PACKAGE[m] ?? `python3-${m}`).join(' ')} to run it` : null
    if (why) console.warn(`skipped: ${why}`)
    seen.set(key, why)
  }
  return seen.get(key)!
}
