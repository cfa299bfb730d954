import { mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A fresh temp folder; pass it to the returned cleanup in afterEach/afterAll. */
export function tempDir(prefix = 'cs-test-'): { dir: string; cleanup: () => void } {
  // Its real path (macOS's tmpdir is behind a symlink): the app knows projects by their real path.
  const dir = realpathSync.native(mkdtempSync(join(tmpdir(), prefix)))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Points the app data folder at a temp one for this test file. */
export function isolatedHome(): { home: string; cleanup: () => void } {
  const { dir, cleanup } = tempDir('cs-home-')
  process.env.CLASSIFIER_STUDIO_HOME = dir
  return { home: dir, cleanup }
}
