import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, type CliResult } from '../helpers/cli'
import { tempDir } from '../helpers/env'

// Every CLI error says what happened, names the argument or the file, and says how to fix it;
// none shows a stack trace. Each case is reproduced through the real command in its own process.
const tmp = tempDir('cs-cli-msg-')
const env = { CLASSIFIER_STUDIO_HOME: join(tmp.dir, 'home') }
const src = join(tmp.dir, 'src')
afterAll(() => tmp.cleanup())

beforeAll(async () => {
  for (const cls of ['a', 'b'])
    for (let i = 0; i < 6; i++) {
      mkdirSync(join(src, cls), { recursive: true })
      await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: cls === 'a' ? 200 : 20, g: 30 * i, b: 90 } } })
        .png()
        .toFile(join(src, cls, `${i}.png`))
    }
})

/** Asserts the exit code, that stderr holds every needle, and that nothing looks like a stack. */
function expectMessage(r: CliResult, code: number, ...needles: (string | RegExp)[]) {
  expect(r.code, r.stderr).toBe(code)
  for (const n of needles) {
    if (typeof n === 'string') expect(r.stderr).toContain(n)
    else expect(r.stderr).toMatch(n)
  }
  expect(r.stderr).not.toMatch(/^\s+at /m)
  expect(r.stderr).not.toMatch(/HDF5-DIAG|ERR_PARSE_ARGS|TypeError|SyntaxError/)
}

async function newProject(name: string, size?: number): Promise<string> {
  const dir = join(tmp.dir, name)
  expect((await runCli(['new', dir], env)).code).toBe(0)
  if (size !== undefined) {
    const r = await runCli(['import', dir, src, '--size', String(size)], env)
    expect(r.code, r.stderr).toBe(0)
  }
  return dir
}

describe('CLI messages: arguments', () => {
  it('negative numbers are values of their flag, checked with a range that names the flag', async () => {
    const p = await newProject('neg')
    expectMessage(await runCli(['train', p, '--epochs', '-1'], env), 2, '--epochs expects an integer >= 1', 'got -1', 'For example: --epochs 10')
    expectMessage(await runCli(['train', p, '--lr', '-1'], env), 2, '--lr expects a number > 0', 'got -1')
    expectMessage(await runCli(['train', p, '--seed', '-1'], env), 2, '--seed expects an integer >= 0', 'got -1')
    expectMessage(await runCli(['serve', '--port', '-1'], env), 2, '--port expects an integer >= 0 and <= 65535, got -1')
    for (const r of [await runCli(['train', p, '--epochs', '-1'], env), await runCli(['evaluate', p, '--digits', '-1'], env)]) expect(r.stderr).not.toMatch(/ambiguous|--epochs=-XYZ/)
    // Where a negative number is a valid value it is taken as one: an import seed may be negative.
    const ok = await runCli(['import', p, src, '--size', '32', '--seed', '-7', '--json'], env)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.json().total).toBe(12)
  })

  it("parseArgs's own errors are human: unknown option with a suggestion, missing value, a value for a switch", async () => {
    const p = join(tmp.dir, 'neg')
    expectMessage(await runCli(['train', p, '--epoch', '3'], env), 2, "Unknown option '--epoch' for `train`. Did you mean --epochs?", 'Usage: classifier-studio train', 'classifier-studio train --help')
    expectMessage(await runCli(['train', p, '--epochs'], env), 2, '--epochs needs a value', '--epochs N', 'Usage: classifier-studio train')
    expectMessage(await runCli(['train', p, '--epochs', '--lr', '0.1'], env), 2, '--epochs needs a value (it is followed by the option --lr)')
    expectMessage(await runCli(['summary', p, '--json=1'], env), 2, '--json is a switch and takes no value', 'write just --json')
    expectMessage(await runCli(['train', p, 'extra'], env), 2, 'Unexpected argument "extra" for `train`', 'Usage: classifier-studio train')
    expectMessage(await runCli(['trian', p], env), 2, 'Unknown command "trian". Did you mean `classifier-studio train`?')
    expectMessage(await runCli(['train', p, '--recipe', 'tranfser'], env), 2, '--recipe expects transfer, finetune or cnn, got "tranfser". Did you mean --recipe transfer?')
  })
})

describe('CLI messages: import', () => {
  it('an empty folder, or one without class sub-folders, is an error naming it and the layouts; nothing is written', async () => {
    const p = await newProject('empty')
    const empty = join(tmp.dir, 'empty-src')
    mkdirSync(empty)
    const r = await runCli(['import', p, empty], env)
    expectMessage(r, 1, `No images found in ${empty}`, 'one sub-folder per class', 'train/, validation/', 'IDX', 'CSV')
    expect(r.stdout).toBe('')
    expect(existsSync(join(p, 'dataset', 'index.json'))).toBe(false)
    expect(JSON.parse(readFileSync(join(p, 'project.json'), 'utf8')).settings.inputSize).toBe(224)

    const flat = join(tmp.dir, 'flat-src')
    mkdirSync(flat)
    await sharp({ create: { width: 20, height: 20, channels: 3, background: '#808080' } }).png().toFile(join(flat, 'photo.png'))
    expectMessage(await runCli(['import', p, flat, '--json'], env), 1, join(flat, 'photo.png'), 'not in class sub-folders', `${flat}/cats/`)
  })

  it('re-importing an unchanged folder says nothing new was found and exits 0', async () => {
    const p = join(tmp.dir, 'neg') // imported above
    const r = await runCli(['import', p, src], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`Nothing new in ${src}: its 12 image(s) are unchanged since the last import`)
  })

  it('bad option values name the option and the expected form', async () => {
    const p = join(tmp.dir, 'neg')
    expectMessage(await runCli(['import', p, src, '--background', 'red'], env), 2, '--background expects a colour written #RRGGBB', 'got "red"')
    expectMessage(await runCli(['import', p, src, '--val', '0.6', '--test', '0.5'], env), 2, '--val 0.6 and --test 0.5 leave no images for training')
    expectMessage(await runCli(['import', p, src, '--resize', 'stretch'], env), 2, '--resize expects squash, crop or pad, got "stretch"')
  })
})

describe('CLI messages: project state', () => {
  it('summary of a project below 96 px shows its state and a hint that works (a CNN, or a new project at >= 96 px)', async () => {
    const p = await newProject('small', 32)
    const r = await runCli(['summary', p], env)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('dataset: 12 images, 2 classes')
    expect(r.stdout).toContain('MobileNetV2 takes square images of 96 to 224 pixels; these are 32x32')
    expect(r.stdout).toContain('--recipe cnn')
    expect(r.stdout).toContain('create a new project and import the images into it with --size 96 or larger')
    const j = (await runCli(['summary', p, '--json'], env)).json()
    expect(j.modelError.message).toContain('32x32')
    // The old hint ("set the project's input size") is what the next import refuses: it is gone.
    expect(r.stdout).not.toContain("Set the project's input size")
    // The first way the hint offers works: a CNN preset on these images.
    const cnn = await runCli(['summary', p, '--model', 'fashion-mnist-cnn'], env)
    expect(cnn.code, cnn.stderr).toBe(0)
    // The second: a new project at 96 px has a MobileNetV2 model.
    const big = await newProject('big', 96)
    const s = await runCli(['summary', big, '--json'], env)
    expect(s.code, s.stderr).toBe(0)
    expect(s.json().totalParams).toBeGreaterThan(2_000_000)
  })

  it('a truncated dataset/index.json is PROJECT_DAMAGED naming the file, and its hint rebuilds it', async () => {
    const p = await newProject('trunc', 32)
    const index = join(p, 'dataset', 'index.json')
    writeFileSync(index, readFileSync(index, 'utf8').slice(0, 500))
    const r = await runCli(['summary', p, '--json'], env)
    expectMessage(r, 1)
    const err = JSON.parse(r.stderr.trim().split('\n').pop()!).error
    expect(err.code).toBe('PROJECT_DAMAGED')
    expect(err.message).toContain(`The dataset index ${index} is damaged: it is not valid JSON`)
    expect(err.hint).toContain('rename it to index.json.damaged')
    expect(err.hint).toContain(`classifier-studio import ${p} <source> --size 32`)
    // Following the hint gives the dataset back.
    renameSync(index, `${index}.damaged`)
    const again = await runCli(['import', p, src, '--size', '32', '--json'], env)
    expect(again.code, again.stderr).toBe(0)
    expect(again.json()).toMatchObject({ total: 12, added: 12 })
  })

  it('a damaged run config.json says the run exists and names the file; an unknown run lists the runs', async () => {
    const p = join(tmp.dir, 'small')
    const id = '20250101-120000-cnn-ab12'
    const runDir = join(p, 'runs', id)
    mkdirSync(join(runDir, 'checkpoints'), { recursive: true })
    writeFileSync(join(runDir, 'config.json'), '{"runId": "20250101-120000-cnn-ab12", "reci')
    const r = await runCli(['evaluate', p, '--run', id], env)
    expectMessage(r, 1, `Run "${id}" exists but its ${join(runDir, 'config.json')} is damaged`, 'use another run (--run ID)', `move the folder ${runDir} out of runs/`)
    expect(r.stderr).not.toContain('No run')
    const none = await runCli(['evaluate', p, '--run', 'nope'], env)
    expectMessage(none, 1, `No run "nope" in ${join(p, 'runs')}`, `Runs in this project (newest first): ${id}`)
  })
})

describe('CLI messages: examples', () => {
  it("an example project's error reaches the output with its hint, as text and as JSON", async () => {
    const dir = join(tmp.dir, 'example')
    const missing = join(tmp.dir, 'no-such-data')
    const args = ['new', dir, '--example', 'fashion-mnist', '--source', missing]
    expectMessage(await runCli(args, env), 1, `Error: The data source ${missing} does not exist.\nPick the folder (or file) holding the Fashion-MNIST CNN data, or leave the source out to download it.`)
    const json = await runCli([...args, '--json'], env)
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stderr.trim().split('\n').pop()!)).toEqual({
      error: { code: 'NOT_FOUND', message: `The data source ${missing} does not exist.`, hint: 'Pick the folder (or file) holding the Fashion-MNIST CNN data, or leave the source out to download it.' },
    })
  })
})

describe('CLI messages: flags a recipe would ignore', () => {
  it('--base-weights with --recipe cnn is a usage error; with transfer a non-weights file is named', async () => {
    const p = join(tmp.dir, 'big')
    const text = join(tmp.dir, 'notes.txt')
    writeFileSync(text, 'root:x:0:0:root:/root:/bin/bash\n')
    expectMessage(await runCli(['train', p, '--recipe', 'cnn', '--base-weights', text], env), 2, '--base-weights applies to --recipe transfer only, and this is --recipe cnn', 'Remove --base-weights')
    expectMessage(await runCli(['train', p, '--recipe', 'finetune', '--base-weights', text], env), 2, '--base-weights applies to --recipe transfer only, and this is --recipe finetune')
    const bad = await runCli(['train', p, '--base-weights', text], env)
    expectMessage(bad, 1, `--base-weights ${text} is not a weights file`, 'Keras .h5', 'TF.js model.json', 'weights download mobilenetv2')
    expectMessage(await runCli(['train', p, '--base-weights', join(tmp.dir, 'missing.h5')], env), 1, `--base-weights ${join(tmp.dir, 'missing.h5')}: no such file`)
    // None of these started a run.
    expect(readdirSync(join(p, 'runs')).filter((n) => !n.startsWith('.'))).toEqual([])
  })

  it('other recipe-specific flags are refused where the recipe ignores them', async () => {
    const p = join(tmp.dir, 'big')
    expectMessage(await runCli(['train', p, '--fine-tune-from', 'block_13'], env), 2, '--fine-tune-from applies to --recipe finetune only, and this is --recipe transfer (the default)', 'add --recipe finetune')
    expectMessage(await runCli(['train', p, '--recipe', 'cnn', '--base', 'vgg16'], env), 2, '--base applies to --recipe transfer only')
    expectMessage(await runCli(['train', p, '--recipe', 'transfer', '--model', 'fashion-mnist-cnn'], env), 2, '--model applies to --recipe cnn only')
    expectMessage(await runCli(['train', p, '--from-run', 'x', '--recipe', 'cnn'], env), 2, '--from-run applies to --recipe finetune only')
    expectMessage(await runCli(['train', p, '--model', 'resnet'], env), 2, '--model expects fashion-mnist-cnn, sign-mnist-cnn, cats-dogs-cnn or cats-dogs-cnn-bn, got "resnet"')
    expectMessage(await runCli(['train', p, '--augment', 'wobble'], env), 2, '--augment "wobble": ', 'flip,rotate=15')
    // --model alone means --recipe cnn (it used to train MobileNetV2 and ignore it): on 32 px images, where transfer cannot run.
    const cnn = await runCli(['train', join(tmp.dir, 'small'), '--model', 'fashion-mnist-cnn', '--epochs', '1', '--json'], env)
    expect(cnn.code, cnn.stderr).toBe(0)
    expect(cnn.json().recipe).toBe('cnn')
  })

  it('other commands: output paths checked before the work, sizes and URLs that would be ignored or fail raw', async () => {
    const p = join(tmp.dir, 'small')
    expectMessage(await runCli(['evaluate', p, '--csv', join(tmp.dir, 'no-such-dir', 'r.csv')], env), 2, `--csv ${join(tmp.dir, 'no-such-dir', 'r.csv')}: the folder ${join(tmp.dir, 'no-such-dir')} does not exist`)
    expectMessage(await runCli(['predict', p, src, '--csv', tmp.dir], env), 2, `--csv ${tmp.dir} is a folder`, 'predictions.csv')
    expectMessage(await runCli(['evaluate', p, '--digits', 'abc'], env), 2, '--digits expects an integer >= 0 and <= 17, got abc')
    expectMessage(await runCli(['weights', 'list', '--size', '160'], env), 2, '--size applies to `weights download mobilenetv2` only', 'Remove --size')
    expectMessage(await runCli(['weights', 'download', 'vgg16', '--size', '160'], env), 2, '--size applies to `weights download mobilenetv2` only')
    expectMessage(await runCli(['weights', 'download', 'mobilenetv2', '--size', '64'], env), 2, '--size expects an integer >= 96 and <= 224, got 64')
    expectMessage(await runCli(['weights', 'download', 'mobilenetv2', '--base-url', 'notaurl'], env), 2, '--base-url expects an http:// or https:// URL', 'got "notaurl"')
    const named = join(tmp.dir, 'named')
    expectMessage(await runCli(['new', named, '--name', ''], env), 2, '--name was given an empty value', 'leave --name out for the default')
    expect(existsSync(named)).toBe(false)
    // An empty --run would silently mean "the latest run".
    expectMessage(await runCli(['evaluate', p, '--run', ''], env), 2, '--run was given an empty value', '--run ID')
  })
})
