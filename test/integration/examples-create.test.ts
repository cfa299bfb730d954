import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeProject } from '../../src/main/services/projects'
import { loadDatasetIndex, splitIds } from '../../src/main/services/datasets'
import { createExample, readExampleState, resolveData, runExample, type TrainFn } from '../../src/main/services/examples'
import { AppError } from '../../src/shared/errors'
import { getExample, type ExampleDef, type ExampleProgress } from '../../src/shared/examples'
import { ProjectFile } from '../../src/shared/project'
import type { TrainResult } from '../../src/shared/training'
import type { Events } from '../../src/shared/contract'
import { runRecipeInBackground, stopInBackground, trainingStatus, withProjectDefaults } from '../../src/main/services/training/session'

let tmp: string
let prevHome: string | undefined

/** A deterministic byte generator (distinct images, no duplicates). */
function pixels(seed: number, n: number): Uint8Array {
  let a = seed * 2654435761 >>> 0
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff
  }
  return out
}

function idxImages(n: number, seed: number): Buffer {
  const head = Buffer.alloc(16)
  head.writeUInt32BE(0x00000803, 0)
  head.writeUInt32BE(n, 4)
  head.writeUInt32BE(28, 8)
  head.writeUInt32BE(28, 12)
  return Buffer.concat([head, ...Array.from({ length: n }, (_, i) => Buffer.from(pixels(seed + i, 784)))])
}
function idxLabels(labels: number[]): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(0x00000801, 0)
  head.writeUInt32BE(labels.length, 4)
  return Buffer.concat([head, Buffer.from(labels)])
}

/** A tiny Fashion-MNIST look-alike: 10 classes, 10 train + 3 test images each, gzipped IDX. */
async function tinyFashion(dir: string) {
  await mkdir(dir, { recursive: true })
  const trainLabels = Array.from({ length: 100 }, (_, i) => i % 10)
  const testLabels = Array.from({ length: 30 }, (_, i) => i % 10)
  await writeFile(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(idxImages(100, 1)))
  await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxLabels(trainLabels)))
  await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idxImages(30, 1000)))
  await writeFile(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idxLabels(testLabels)))
  await writeFile(join(dir, 'README.md'), 'not data')
}

async function snapshot(dir: string): Promise<string> {
  const h = createHash('sha256')
  for (const n of (await readdir(dir)).sort()) {
    const st = await lstat(join(dir, n))
    h.update(`${n}:${st.size}:${st.mtimeMs};`)
  }
  return h.digest('hex')
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'examples-create-'))
  prevHome = process.env.CLASSIFIER_STUDIO_HOME
  process.env.CLASSIFIER_STUDIO_HOME = join(tmp, 'home')
})
afterAll(async () => {
  if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
  else process.env.CLASSIFIER_STUDIO_HOME = prevHome
  await rm(tmp, { recursive: true, force: true })
})

describe('createExample', () => {
  it('fashion-mnist from a local IDX folder: class names, tutorial splits (10 % validation, t10k = test), recipe stored, source read in place', async () => {
    const src = join(tmp, 'fashion-src')
    await tinyFashion(src)
    const before = await snapshot(src)
    const dir = join(tmp, 'fashion-project')
    const phases = new Set<ExampleProgress['phase']>()
    const r = await createExample(dir, 'fashion-mnist', { source: src, cacheDir: join(tmp, 'cache'), onProgress: (p) => phases.add(p.phase) })
    await closeProject(dir)
    const def = getExample('fashion-mnist')

    const idx = (await loadDatasetIndex(dir))!
    expect([...idx.classes].sort()).toEqual([...def.data.classNames!].sort())
    expect(idx.settings).toMatchObject({ inputSize: 28, channels: 1 })
    const perClass = (split: 'train' | 'validation' | 'test') => {
      const counts = new Map<string, number>()
      for (const id of splitIds(idx, split)) counts.set(idx.classes[idx.items[id].label], (counts.get(idx.classes[idx.items[id].label]) ?? 0) + 1)
      return counts
    }
    for (const name of def.data.classNames!) {
      expect(perClass('train').get(name)).toBe(9)
      expect(perClass('validation').get(name)).toBe(1)
      expect(perClass('test').get(name)).toBe(3)
    }
    // the label a class gets follows the IDX label through the names file: image i of the test file has label i % 10
    const testItems = Array.from(splitIds(idx, 'test'), (id) => idx.items[id])
    expect(testItems.length).toBe(30)
    for (const it of testItems) {
      const n = Number(/#(\d+)$/.exec(it.src)![1])
      expect(idx.classes[it.label]).toBe(def.data.classNames![n % 10])
    }
    expect(r.imports.map((s) => s.kind)).toEqual(['idx', 'idx'])
    expect(phases.has('import')).toBe(true)
    expect(phases.has('download')).toBe(false)

    const project = ProjectFile.parse(JSON.parse(await readFile(join(dir, 'project.json'), 'utf8')))
    expect(project.name).toBe(def.title)
    const state = await readExampleState(dir)
    expect(state).toEqual(r.example)
    expect(state.name).toBe('fashion-mnist')
    expect(state.evaluateSplit).toBe('test')
    expect(state.stages).toEqual(def.stages.map((s) => ({ name: s.name, title: s.title, options: s.options })))
    expect(state.stages[0].options).toMatchObject({ recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 10, optimizer: 'adam' })
    expect(state.source).toEqual({ kind: 'local', locations: [src] })

    // read in place: nothing copied into the cache, the source folder untouched
    expect(await snapshot(src)).toBe(before)
    const links = join(tmp, 'cache', 'links')
    for (const d of await readdir(links)) for (const f of await readdir(join(links, d))) if (f !== 'classes.txt') expect((await lstat(join(links, d, f))).isSymbolicLink()).toBe(true)
  })

  it('sign-mnist from local CSVs: 24 classes with the J/Z gap, test CSV = test split, letters stored', async () => {
    const src = join(tmp, 'sign-src')
    await mkdir(src, { recursive: true })
    const labels = Array.from({ length: 25 }, (_, i) => i).filter((i) => i !== 9)
    const rows = (n: number, seed: number) =>
      ['label,' + Array.from({ length: 784 }, (_, i) => `pixel${i + 1}`).join(',')]
        .concat(Array.from({ length: n }, (_, k) => [labels[k % 24], ...pixels(seed + k, 784)].join(',')))
        .join('\r\n') + '\r\n'
    await writeFile(join(src, 'sign_mnist_train.csv.gz'), gzipSync(rows(240, 7)))
    await writeFile(join(src, 'sign_mnist_test.csv'), rows(48, 9000))
    const dir = join(tmp, 'sign-project')
    const r = await createExample(dir, 'sign-mnist', { source: src, cacheDir: join(tmp, 'cache') })
    await closeProject(dir)
    const idx = (await loadDatasetIndex(dir))!
    expect(idx.classes).toEqual(labels.map(String))
    expect(splitIds(idx, 'train').length).toBe(216)
    expect(splitIds(idx, 'validation').length).toBe(24)
    expect(splitIds(idx, 'test').length).toBe(48)
    expect(r.example.labelNames?.['24']).toBe('Y')
    expect(r.example.labelNames?.['9']).toBeUndefined()
    expect(r.example.stages[0].options).toMatchObject({ model: 'sign-mnist-cnn', epochs: 20 })
  })

  it('cats-dogs-mobilenetv2 from a zip (extracted once into the cache, found below the archive root; 160 px with the official weights, 224 px with the offline ones)', async () => {
    const src = join(tmp, 'cd-src')
    const colours: Record<string, [number, number, number]> = { cats: [200, 60, 40], dogs: [40, 80, 200] }
    for (const split of ['train', 'validation'])
      for (const cls of ['cats', 'dogs']) {
        const d = join(src, 'cats_and_dogs_filtered', split, cls)
        await mkdir(d, { recursive: true })
        for (let i = 0; i < (split === 'train' ? 4 : 2); i++) {
          const [r0, g, b] = colours[cls]
          await sharp({ create: { width: 40 + i, height: 30, channels: 3, background: { r: r0 + i, g: g + (split === 'train' ? 0 : 7), b } } }).jpeg().toFile(join(d, `${cls}.${i}.jpg`))
        }
      }
    const zip = join(tmp, 'cats_and_dogs_filtered.zip')
    execFileSync('/usr/bin/python3', ['-c', `import shutil; shutil.make_archive(${JSON.stringify(zip.replace(/\.zip$/, ''))}, 'zip', ${JSON.stringify(src)})`])
    const dir = join(tmp, 'cd-project')
    const phases = new Set<string>()
    const asked: [string, number][] = []
    const official = async (base: 'mobilenetv2', size: number) => (asked.push([base, size]), true)
    const r = await createExample(dir, 'cats-dogs-mobilenetv2', { source: zip, cacheDir: join(tmp, 'cache'), onProgress: (p) => phases.add(p.phase), officialWeightsCached: official })
    await closeProject(dir)
    expect(asked).toEqual([['mobilenetv2', 160]])
    expect(r.example.inputSize).toBeUndefined()
    expect(phases.has('extract')).toBe(true)
    expect(r.imports[0].classes.map((c) => c.name)).toEqual(['cats', 'dogs'])
    expect(r.imports[0].splits).toEqual({ train: 8, validation: 4, test: 0 })
    expect(r.imports[0].settings.inputSize).toBe(160)
    expect(r.example.stages.map((s) => s.name)).toEqual(['transfer', 'finetune'])
    expect(r.example.evaluateSplit).toBe('validation')
    // a second project from the same zip does not extract again
    // ... and without the official 160-px weights it is made at the offline weights' 224 px, saying why
    const phases2 = new Set<string>()
    const messages: string[] = []
    const r2 = await createExample(join(tmp, 'cd-project-2'), 'cats-dogs-mobilenetv2', {
      source: zip,
      cacheDir: join(tmp, 'cache'),
      onProgress: (p) => (phases2.add(p.phase), p.message && messages.push(p.message)),
      officialWeightsCached: async () => false,
    })
    await closeProject(join(tmp, 'cd-project-2'))
    expect(phases2.has('extract')).toBe(false)
    expect(r2.imports[0].settings.inputSize).toBe(224)
    expect(r2.project.settings.inputSize).toBe(224)
    expect(r2.example.inputSize?.size).toBe(224)
    expect(r2.example.inputSize?.why).toMatch(/trained on 224x224 images.*weights download mobilenetv2 --size 160/)
    expect(messages.filter((m) => /^Input size 224x224 instead of the tutorial's 160: /.test(m))).toHaveLength(1)
    expect((await readdir(join(tmp, 'cache', 'extracted'))).length).toBe(1)
  })

  it('refuses data whose checksum does not match the published one (URL override) and leaves no project behind', async () => {
    const src = join(tmp, 'fashion-src-2')
    await tinyFashion(src)
    const server = http.createServer(async (req, res) => {
      const file = join(src, (req.url ?? '/').slice(1))
      if (!existsSync(file)) return void res.writeHead(404).end()
      const body = await readFile(file)
      res.writeHead(200, { 'content-length': body.length }).end(body)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      const dir = join(tmp, 'fashion-mirror')
      const err = (await createExample(dir, 'fashion-mnist', { source: url, cacheDir: join(tmp, 'cache2') }).catch((e: unknown) => e)) as AppError
      expect(err).toBeInstanceOf(AppError)
      expect(err.message).toMatch(/train-images-idx3-ubyte\.gz .* failed its checksum: expected sha256 3aede38d/)
      expect(existsSync(dir)).toBe(false)
      expect(existsSync(join(tmp, 'cache2', 'downloads', `sha256-${getExample('fashion-mnist').data.files[0].sha256}`, 'train-images-idx3-ubyte.gz'))).toBe(false)
    } finally {
      server.close()
    }
  })

  it('refuses a non-empty folder before downloading anything, and names what a local source lacks', async () => {
    const full = join(tmp, 'full')
    await mkdir(full, { recursive: true })
    await writeFile(join(full, 'x.txt'), 'x')
    const e1 = (await createExample(full, 'fashion-mnist', { source: 'http://127.0.0.1:9/', cacheDir: join(tmp, 'c3') }).catch((e: unknown) => e)) as AppError
    expect(e1.code).toBe('PROJECT_EXISTS')
    const empty = join(tmp, 'empty-src')
    await mkdir(empty)
    const e2 = (await createExample(join(tmp, 'p-none'), 'sign-mnist', { source: empty, cacheDir: join(tmp, 'c3') }).catch((e: unknown) => e)) as AppError
    expect(e2.code).toBe('NOT_FOUND')
    expect(e2.message).toMatch(/missing sign_mnist_train\.csv or sign_mnist_train\.csv\.gz; sign_mnist_test\.csv/)
    expect(existsSync(join(tmp, 'p-none'))).toBe(false)
  })

  it('a cancelled creation deletes only what it made (hidden files already in the folder stay); inside a project is refused', async () => {
    const src = join(tmp, 'fashion-src-keep')
    await tinyFashion(src)
    const dir = join(tmp, 'with-hidden')
    await mkdir(join(dir, '.git'), { recursive: true })
    await writeFile(join(dir, '.git', 'HEAD'), 'ref: refs/heads/main')
    await writeFile(join(dir, '.notes'), 'mine')
    const ac = new AbortController()
    const onProgress = () => existsSync(join(dir, 'project.json')) && ac.abort()
    const err = (await createExample(dir, 'fashion-mnist', { source: src, cacheDir: join(tmp, 'c5'), signal: ac.signal, onProgress }).catch((e: unknown) => e)) as AppError
    expect(ac.signal.aborted).toBe(true)
    expect(err).toMatchObject({ code: 'CANCELLED' })
    expect((await readdir(dir)).sort()).toEqual(['.git', '.notes'])
    expect(await readFile(join(dir, '.git', 'HEAD'), 'utf8')).toBe('ref: refs/heads/main')
    // A project never goes inside another one.
    const outer = join(tmp, 'outer-project')
    await createExample(outer, 'fashion-mnist', { source: src, cacheDir: join(tmp, 'c5') })
    await closeProject(outer)
    const e2 = (await createExample(join(outer, 'nested'), 'fashion-mnist', { source: src, cacheDir: join(tmp, 'c5') }).catch((e: unknown) => e)) as AppError
    expect(e2).toMatchObject({ code: 'FORBIDDEN', message: `Cannot create the example in ${join(outer, 'nested')}: it is inside the project ${outer}; a project never goes inside another one.` })
    expect(existsSync(join(outer, 'nested'))).toBe(false)
  })
})

describe('resolveData (downloads)', () => {
  it('downloads every file of an example from a mirror URL with one progress bar, then serves them from the cache with the server down', async () => {
    const src = join(tmp, 'fashion-src-3')
    await tinyFashion(src)
    const real = getExample('fashion-mnist')
    const files = await Promise.all(
      real.data.files.map(async (f) => {
        const body = await readFile(join(src, f.fileName))
        return { ...f, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length }
      }),
    )
    const def: ExampleDef = { ...real, data: { ...real.data, files } }
    const server = http.createServer(async (req, res) => {
      const body = await readFile(join(src, (req.url ?? '/').split('/').pop()!))
      res.writeHead(200, { 'content-length': body.length }).end(body)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`
    const events: ExampleProgress[] = []
    const total = files.reduce((n, f) => n + f.bytes, 0)
    let first
    try {
      first = await resolveData(def, url, { cacheDir: join(tmp, 'cache4'), onProgress: (p) => events.push(p) })
    } finally {
      server.close()
    }
    expect(first.kind).toBe('download')
    expect(first.locations).toEqual(files.map((f) => url + f.fileName))
    for (const f of files) expect(Buffer.compare(await readFile(first.files[f.role]), await readFile(join(src, f.fileName)))).toBe(0)
    const dl = events.filter((e) => e.phase === 'download')
    expect(dl.every((e) => e.total === total)).toBe(true)
    for (let i = 1; i < dl.length; i++) expect(dl[i].done).toBeGreaterThanOrEqual(dl[i - 1].done)
    expect(dl.at(-1)!.done).toBe(total)
    const again = await resolveData(def, url, { cacheDir: join(tmp, 'cache4') })
    expect(again.files).toEqual(first.files)
  })
})

describe('runExample', () => {
  it('trains an example project’s model when the user names only settings (train P --epochs 2)', async () => {
    expect(await withProjectDefaults(join(tmp, 'fashion-project'), { epochs: 2 })).toEqual({ epochs: 2, recipe: 'cnn', model: 'fashion-mnist-cnn' })
    expect(await withProjectDefaults(join(tmp, 'cd-project'), { epochs: 2 })).toEqual({ epochs: 2, recipe: 'transfer', base: 'mobilenetv2' })
    expect(await withProjectDefaults(join(tmp, 'cd-project'), { recipe: 'cnn', model: 'cats-dogs-cnn' })).toEqual({ recipe: 'cnn', model: 'cats-dogs-cnn' })
  })

  it('runs the whole recipe in the background for the studio: events tagged with their step, recipe-done last; a stop ends it', async () => {
    const dir = join(tmp, 'cd-project-2')
    let holdFinetune = false
    const train: TrainFn = async (_d, options, ctl) => {
      const runId = `${options.recipe}-bg`
      ctl.onEvent?.({ type: 'start', runId, backend: 'fake', reason: '', recipe: options.recipe!, epochs: 1, resumedFromEpoch: 0, threads: 2 })
      const stopped = options.recipe === 'finetune' && holdFinetune && (await new Promise<boolean>((r) => ctl.signal!.addEventListener('abort', () => r(true))))
      const result = { runId, backend: 'fake', recipe: options.recipe!, epochs: [], best: { epoch: 1, valAccuracy: 0.9, monitor: 'val_loss', value: 0.3 }, stoppedEarly: false, stopped } satisfies TrainResult
      ctl.onEvent?.({ type: 'done', result })
      return result
    }
    const evaluate = async () => ({ accuracy: 0.95, loss: 0.2 }) as never
    const seen: Events['training'][] = []
    const first = await runRecipeInBackground(dir, (_e, p) => seen.push(p), { train, evaluate })
    expect(first.runId).toBe('transfer-bg')
    await expect.poll(() => seen.at(-1)?.event.type).toBe('recipe-done')
    expect(seen.map((p) => `${p.recipe?.index}/${p.recipe?.total} ${p.recipe?.step} ${p.event.type}`)).toEqual([
      '0/3 transfer start',
      '0/3 transfer done',
      '1/3 finetune start',
      '1/3 finetune done',
      '2/3 evaluate log',
      '2/3 evaluate recipe-done',
    ])
    expect(seen.at(-1)!.event).toMatchObject({ evaluation: { split: 'validation', runId: 'finetune-bg', accuracy: 0.95 } })
    expect(trainingStatus(dir)).toMatchObject({ running: false, recipe: null })

    // Stopped during fine-tuning: that stage ends stopped, no evaluation, the recipe says why.
    holdFinetune = true
    seen.length = 0
    await runRecipeInBackground(dir, (_e, p) => seen.push(p), { train, evaluate })
    await expect.poll(() => seen.some((p) => p.recipe?.step === 'finetune')).toBe(true)
    // A reloaded page reads the running run's backend and training threads from the status.
    expect(trainingStatus(dir)).toMatchObject({ running: true, runId: 'finetune-bg', backend: 'fake', threads: 2, recipe: { step: 'finetune', index: 1 } })
    stopInBackground(dir)
    await expect.poll(() => seen.at(-1)?.event.type).toBe('error')
    expect(seen.map((p) => p.event.type)).toEqual(['start', 'done', 'start', 'done', 'error'])
    expect(seen.at(-1)!.event).toMatchObject({ error: { code: 'CANCELLED' } })
    expect(trainingStatus(dir).running).toBe(false)
  })

  it('trains the stages in order (fine-tune continues from the transfer run), evaluates on the tutorial split, stores results', async () => {
    const dir = join(tmp, 'cd-project')
    const calls: { options: Record<string, unknown> }[] = []
    const train: TrainFn = async (_dir, options) => {
      calls.push({ options: { ...options } })
      const runId = `run-${calls.length}`
      return { runId, backend: 'fake', recipe: options.recipe!, epochs: [{ epoch: 1, loss: 1, accuracy: 0.5, valLoss: 1, valAccuracy: 0.5 + calls.length / 10, lr: 1e-4, seconds: 1, imagesPerSecond: 1 }], best: { epoch: 1, valAccuracy: 0.5 + calls.length / 10, monitor: 'val_loss', value: 1 }, stoppedEarly: false, stopped: false } satisfies TrainResult
    }
    const evaluated: unknown[] = []
    const r = await runExample(dir, {
      train,
      overrides: { '*': { epochs: 1 }, finetune: { batchSize: 8 } },
      evaluate: async (_d, o) => {
        evaluated.push(o)
        return { accuracy: 0.75, loss: 0.5 } as never
      },
    })
    expect(calls.map((c) => c.options.recipe)).toEqual(['transfer', 'finetune'])
    expect(calls[0].options).toMatchObject({ base: 'mobilenetv2', epochs: 1, learningRate: 1e-4, augment: 'flip,rotate=72' })
    expect(calls[1].options).toMatchObject({ fromRunId: 'run-1', epochs: 1, batchSize: 8, fineTuneFrom: 'block_11_expand_relu', learningRate: 1e-5 })
    expect(evaluated).toEqual([{ split: 'validation', runId: 'run-2', force: true }])
    expect(r.evaluation).toEqual({ split: 'validation', runId: 'run-2', accuracy: 0.75, loss: 0.5 })
    const state = await readExampleState(dir)
    expect(state.results?.map((x) => [x.stage, x.runId])).toEqual([['transfer', 'run-1'], ['finetune', 'run-2']])
    expect(state.evaluation?.accuracy).toBe(0.75)
  })

  it('fine-tunes the offline MobileNetV2 weights with the offline recipe (their top blocks must be re-learned) and says so', async () => {
    const dir = join(tmp, 'cd-project')
    const calls: Record<string, unknown>[] = []
    const train: TrainFn = async (_dir, options) => {
      calls.push({ ...options })
      return { runId: `offline-${calls.length}`, backend: 'fake', recipe: options.recipe!, epochs: [], best: { epoch: 1, valAccuracy: 0.9, monitor: 'val_loss', value: 1 }, stoppedEarly: false, stopped: false } satisfies TrainResult
    }
    const logs: string[] = []
    const seen: string[] = []
    for (const weights of ['nsfwjs-4.4.0-mobilenetv2', 'keras:mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5']) {
      calls.length = 0
      await runExample(dir, {
        train,
        overrides: { '*': { epochs: 1 } },
        runBaseWeights: async (_d, runId) => (seen.push(runId), weights),
        evaluate: async () => ({ accuracy: 0.9, loss: 0.3 }) as never,
        onEvent: (e) => e.type === 'log' && logs.push(e.message),
      })
      if (weights.startsWith('nsfwjs')) {
        expect(calls[1]).toMatchObject({ recipe: 'finetune', fromRunId: 'offline-1', optimizer: 'adam', learningRate: 1e-4, epochs: 1, labelSmoothing: 0.1, reduceLrOnPlateau: { factor: 0.2, patience: 2 }, fineTuneFrom: 'block_7' })
        expect(logs.join('\n')).toMatch(/Offline MobileNetV2 weights: .*re-learn/)
      } else expect(calls[1]).toMatchObject({ optimizer: 'rmsprop', learningRate: 1e-5, fineTuneFrom: 'block_11_expand_relu' })
    }
    expect(seen).toEqual(['offline-1', 'offline-1'])
  })

  it('refuses up front a stage whose preset the model zoo lacks, and VGG16 without weights', async () => {
    const dir = join(tmp, 'cd-project-2')
    const { updateProject } = await import('../../src/main/services/projects')
    const cnn = getExample('cats-dogs-cnn')
    await updateProject(dir, (p) => {
      ;(p.state.example as { name: string; stages: unknown }).name = 'cats-dogs-cnn'
      ;(p.state.example as { stages: unknown }).stages = cnn.stages.map((s) => ({ name: s.name, title: s.title, options: s.options }))
    })
    let trained = 0
    const train: TrainFn = async () => {
      trained++
      throw new Error('not reached')
    }
    const err = (await runExample(dir, { train, presets: ['cats-dogs-cnn'] }).catch((e: unknown) => e)) as AppError
    expect(err.code).toBe('NOT_IMPLEMENTED')
    expect(err.message).toContain('"cats-dogs-cnn-bn"')
    expect(err.hint).toContain('--stages cnn')
    const vgg = getExample('cats-dogs-vgg16')
    await updateProject(dir, (p) => {
      ;(p.state.example as { name: string }).name = 'cats-dogs-vgg16'
      ;(p.state.example as { stages: unknown }).stages = vgg.stages.map((s) => ({ name: s.name, title: s.title, options: s.options }))
    })
    const err2 = (await runExample(dir, { train }).catch((e: unknown) => e)) as AppError
    expect(err2.message).toMatch(/needs the VGG16 ImageNet weights/)
    expect(trained).toBe(0)
  })
})
