import fs from 'node:fs'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import * as h5wasm from 'h5wasm/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readH5ModelConfig, writeKerasH5 } from '../../src/main/ml/export/h5'
import { hdf5Call, Hdf5Error } from '../../src/main/ml/export/hdf5-quiet'
import { tempDir } from '../helpers/env'

// The HDF5 library in h5wasm prints ~20 lines of "HDF5-DIAG" per failed call straight to fd 2
// and carries on; hdf5Call keeps them off the terminal and makes one error of them instead.
const tmp = tempDir('cs-hdf5-')
afterAll(() => tmp.cleanup())
beforeAll(async () => {
  await h5wasm.ready
})

/** Runs `fn` and returns what it wrote to fd 2 through fs.writeSync (where h5wasm writes). */
async function fd2During(fn: () => Promise<unknown>): Promise<{ written: string; error: unknown }> {
  const original = fs.writeSync
  let written = ''
  fs.writeSync = function (fd: number, data: unknown, ...rest: unknown[]) {
    if (fd === 2) {
      const view = data as Uint8Array
      const off = typeof rest[0] === 'number' ? rest[0] : 0
      const len = typeof rest[1] === 'number' ? rest[1] : view.byteLength - off
      written += typeof data === 'string' ? data : Buffer.from(view.buffer, view.byteOffset + off, len).toString()
      return typeof data === 'string' ? data.length : len
    }
    return (original as (...a: unknown[]) => number).call(fs, fd, data, ...rest)
  } as typeof fs.writeSync
  let error: unknown = null
  try {
    await fn()
  } catch (e) {
    error = e
  } finally {
    fs.writeSync = original
  }
  return { written, error }
}

describe('HDF5 diagnostics', () => {
  it('a file HDF5 cannot create: one error naming it with the errno, no diagnostics on stderr', async () => {
    const file = join(tmp.dir, 'no-such-folder', 'model.h5')
    const { written, error } = await fd2During(async () => hdf5Call(file, 'write', () => new h5wasm.File(file, 'w').close()))
    expect(written).toBe('')
    expect(error).toBeInstanceOf(Hdf5Error)
    expect((error as Hdf5Error).code).toBe('ENOENT')
    expect((error as Hdf5Error).message).toMatch(new RegExp(`^HDF5 could not write ${file}: .*\\(ENOENT\\)\\.$`))
    expect((error as Hdf5Error).message.split('\n')).toHaveLength(1)
    expect((error as Hdf5Error).diagnostics).toContain('HDF5-DIAG')
  })

  it('reading a file that is not HDF5 names it; nothing is printed', async () => {
    const file = join(tmp.dir, 'notes.h5')
    fs.writeFileSync(file, 'not hdf5 at all\n'.repeat(100))
    const { written, error } = await fd2During(() => readH5ModelConfig(file))
    expect(written).toBe('')
    expect((error as Error).message).toBe(`HDF5 could not read ${file}: file signature not found.`)
  })

  it('writeKerasH5 fails with the errno of an unwritable place and leaves no file; a normal write prints nothing', async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, name: 'd' })] })
    const blocked = join(tmp.dir, 'a-file')
    fs.writeFileSync(blocked, 'x')
    const bad = await fd2During(() => writeKerasH5(model, join(blocked, 'model.h5')))
    expect(bad.written).toBe('')
    expect((bad.error as NodeJS.ErrnoException).code).toBe('ENOTDIR')
    const file = join(tmp.dir, 'model.h5')
    const good = await fd2During(() => writeKerasH5(model, file))
    expect(good.error).toBeNull()
    expect(good.written).toBe('')
    expect((await readH5ModelConfig(file)).class_name).toBe('Sequential')
    model.dispose()
  })

  it('text another part of the program writes to fd 2 meanwhile still reaches stderr', async () => {
    const { written } = await fd2During(async () => hdf5Call('x.h5', 'write', () => fs.writeSync(2, 'a warning\n')))
    expect(written).toBe('a warning\n')
  })
})
