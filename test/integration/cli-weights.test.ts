import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMobileNetV2 } from '../../src/main/ml/models'
import { writeKerasH5 } from '../../src/main/ml/export/h5'
import { runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'
import { writeShapesDataset } from '../helpers/shapes'

// The official-weights path end to end: `weights download` from a local mirror of the Keras
// Applications folder, then `train` uses the downloaded file instead of the offline weights.
const tmp = tempDir('cs-weights-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const FILE = 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5'
let server: Server
let base = ''
let requests = 0

beforeAll(async () => {
  await tf.setBackend('cpu')
  const model = buildMobileNetV2({ alpha: 1.0, inputSize: 96 })
  await writeKerasH5(model, join(tmp.dir, FILE))
  model.dispose()
  const body = readFileSync(join(tmp.dir, FILE))
  server = createServer((req, res) => {
    requests++
    if (req.url !== `/mobilenet_v2/${FILE}`) return void res.writeHead(404).end()
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
})
afterAll(() => {
  server?.close()
  tmp.cleanup()
})

describe('official Keras weights', () => {
  it('downloads once from a mirror, lists it as cached, and training then uses it', async () => {
    const dl = await runCli(['weights', 'download', 'mobilenetv2', '--size', '96', '--base-url', base, '--json'], env)
    expect(dl.code, dl.stderr).toBe(0)
    expect(dl.json().path).toBe(join(tmp.dir, 'home', 'weights', FILE))
    const again = await runCli(['weights', 'download', 'mobilenetv2', '--size', '96', '--base-url', base, '--json'], env)
    expect(again.code).toBe(0)
    expect(requests).toBe(1) // the second one is a cache hit
    const list = await runCli(['weights', '--json'], env)
    expect(list.json().find((r: { name: string }) => r.name === 'mobilenetv2-1.0-96-notop').cached).toBe(join(tmp.dir, 'home', 'weights', FILE))

    const project = join(tmp.dir, 'p')
    await writeShapesDataset(join(tmp.dir, 'data'), 6)
    expect((await runCli(['new', project], env)).code).toBe(0)
    expect((await runCli(['import', project, join(tmp.dir, 'data'), '--size', '96'], env)).code).toBe(0)
    const t = await runCli(['train', project, '--epochs', '1'], env)
    expect(t.code, t.stderr).toBe(0)
    expect(t.stderr).toContain(`Base weights: Keras ImageNet ${FILE} (downloaded copy)`)
  })
})
