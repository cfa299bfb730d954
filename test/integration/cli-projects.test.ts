import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli'
import { tempDir } from '../helpers/env'

const tmp = tempDir('cs-cli-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
afterAll(() => tmp.cleanup())

describe('classifier-studio CLI: projects', () => {
  it('new --json creates a project and prints it as one JSON document', async () => {
    const r = await runCli(['new', join(tmp.dir, 'p'), '--json'], env)
    expect(r.code).toBe(0)
    expect(r.json()).toMatchObject({ dir: join(tmp.dir, 'p'), name: 'p', settings: { inputSize: 224 } })
    expect(JSON.parse(readFileSync(join(tmp.dir, 'p', 'project.json'), 'utf8')).schemaVersion).toBe(1)
    const recent = JSON.parse(readFileSync(join(tmp.dir, 'home', 'recent.json'), 'utf8'))
    expect(recent.projects[0].dir).toBe(join(tmp.dir, 'p'))
  })

  it('summary --json reports the empty state of a new project', async () => {
    const r = await runCli(['summary', join(tmp.dir, 'p'), '--json'], env)
    expect(r.code).toBe(0)
    const s = r.json()
    expect(s.project).toMatchObject({ name: 'p', dir: join(tmp.dir, 'p') })
    expect(s.dataset.total).toBe(0)
    expect(s.runs).toBe(0)
  })

  it('exits 1 with what/why/how on an error, 2 on bad usage', async () => {
    const again = await runCli(['new', join(tmp.dir, 'p')], env)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain(`A project already exists at ${join(tmp.dir, 'p')}`)
    expect(again.stderr).toContain('Open it instead')
    expect(again.stdout).toBe('')

    const usage = await runCli(['new'], env)
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('Usage: classifier-studio new')

    const flag = await runCli(['summary', join(tmp.dir, 'p'), '--frobnicate'], env)
    expect(flag.code).toBe(2)
    expect(flag.stderr).toContain("Unknown option '--frobnicate'")

    const unknown = await runCli(['fly'], env)
    expect(unknown.code).toBe(2)
  })

  it('reports a damaged project.json naming the file, with --json errors on stderr', async () => {
    await runCli(['new', join(tmp.dir, 'broken')], env)
    writeFileSync(join(tmp.dir, 'broken', 'project.json'), '{ nope')
    const r = await runCli(['summary', join(tmp.dir, 'broken'), '--json'], env)
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    const err = JSON.parse(r.stderr.trim().split('\n').pop()!)
    expect(err.error).toMatchObject({ code: 'PROJECT_DAMAGED' })
    expect(err.error.message).toContain(join(tmp.dir, 'broken', 'project.json'))
    expect(readFileSync(join(tmp.dir, 'broken', 'project.json'), 'utf8')).toBe('{ nope')
  })

  it('new --example starts from a tutorial with a local source, recipe preset', async () => {
    // A tiny Fashion-MNIST-shaped IDX set: 40 train + 10 test images of 28x28, labels 0..9.
    const src = join(tmp.dir, 'idx')
    mkdirSync(src)
    const idx3 = (n: number, from: number) => Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28]), ...Array.from({ length: n }, (_, i) => Buffer.alloc(784, from + i))])
    const idx1 = (n: number) => Buffer.concat([Buffer.from([0, 0, 8, 1, 0, 0, 0, n]), Buffer.from(Array.from({ length: n }, (_, i) => i % 10))])
    writeFileSync(join(src, 'train-images-idx3-ubyte.gz'), gzipSync(idx3(40, 0)))
    writeFileSync(join(src, 'train-labels-idx1-ubyte.gz'), gzipSync(idx1(40)))
    writeFileSync(join(src, 't10k-images-idx3-ubyte.gz'), gzipSync(idx3(10, 100)))
    writeFileSync(join(src, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx1(10)))
    const r = await runCli(['new', join(tmp.dir, 'fashion'), '--example', 'fashion-mnist', '--source', src, '--json'], env)
    expect(r.code, r.stderr).toBe(0)
    const p = r.json()
    expect(p.settings).toMatchObject({ inputSize: 28, channels: 1 })
    expect(p.example.name).toBe('fashion-mnist')
    expect(p.example.stages[0].options).toMatchObject({ recipe: 'cnn', model: 'fashion-mnist-cnn' })
    expect(p.imports.reduce((a: number, i: { total: number }) => a + i.total, 0)).toBe(50)

    // MobileNetV2 without the official weights downloaded: made at their 224 px, and the CLI says what changes.
    const cd = join(tmp.dir, 'cd-src', 'cats_and_dogs_filtered')
    for (const split of ['train', 'validation'])
      for (const cls of ['cats', 'dogs']) {
        mkdirSync(join(cd, split, cls), { recursive: true })
        for (let i = 0; i < 2; i++) await sharp({ create: { width: 32, height: 24, channels: 3, background: cls === 'cats' ? { r: 200, g: 60 + i, b: 40 } : { r: 40, g: 80, b: 200 - i } } }).png().toFile(join(cd, split, cls, `${cls}.${i}.png`))
      }
    const text = await runCli(['new', join(tmp.dir, 'cd'), '--example', 'cats-dogs-mobilenetv2', '--source', cd], env)
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain("Images at 224x224, not the tutorial's size: ")
    expect(text.stdout).toMatch(/With the offline weights, "Fine-tune from block_11_expand_relu" changes: .*from block_7 on, Adam 1e-4 for 12 epochs/)

    const bad = await runCli(['new', join(tmp.dir, 'x'), '--example', 'mnist-of-doom'], env)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('Unknown example "mnist-of-doom"')
  })

  it('--help works on every command', async () => {
    const top = await runCli(['--help'], env)
    expect(top.code).toBe(0)
    for (const cmd of ['new', 'import', 'summary', 'train', 'evaluate', 'predict', 'export', 'serve']) {
      expect(top.stdout).toContain(cmd)
      const r = await runCli([cmd, '--help'], env)
      expect(r.code, cmd).toBe(0)
      expect(r.stdout).toContain(`Usage: classifier-studio ${cmd}`)
    }
  })
})
