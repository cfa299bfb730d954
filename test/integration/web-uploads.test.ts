import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStudio } from '../../src/main/web/studio'
import { UPLOAD_LIMITS, UPLOAD_MARKER, UploadStaging, uploadPath } from '../../src/main/web/uploads'
import { writeClassesDataset } from '../e2e/pages/fixes'

/**
 * The browser studio's folder upload (/upload/begin, /upload/file, /upload/discard): behind the
 * token like every route, only for projects opened in this session, bounded, refusing every path
 * that could leave the staging folder, answering JSON errors; the staging folder is the app's own
 * (marker) and is the only thing it deletes.
 */
describe('web studio folder upload route', () => {
  let root: string
  let studio: Awaited<ReturnType<typeof startStudio>>
  let base: string
  let project: string
  const prevHome = process.env.CLASSIFIER_STUDIO_HOME
  const uploads = () => join(root, 'home', 'uploads')

  async function up(step: string, query: Record<string, string | number>, body?: Buffer | string, opts: { token?: string | null; method?: string } = {}) {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))
    const token = opts.token === undefined ? studio.token : opts.token
    const r = await fetch(`${base}/upload/${step}?${qs}`, { method: opts.method ?? 'POST', body, headers: token ? { authorization: `Bearer ${token}` } : {} })
    const json = (await r.json()) as { result?: any; error?: { code: string; message: string; hint?: string } }
    return { status: r.status, type: r.headers.get('content-type'), ...json }
  }
  async function call<T>(method: string, args: unknown): Promise<T> {
    const r = await fetch(`${base}/api/${method.replace('.', '/')}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${studio.token}` }, body: JSON.stringify(args) })
    const body = (await r.json()) as { result?: T; error?: { message: string } }
    if (body.error) throw new Error(body.error.message)
    return body.result as T
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cs-uploads-'))
    process.env.CLASSIFIER_STUDIO_HOME = join(root, 'home')
    studio = await startStudio({ port: 0, workspaceDir: join(root, 'workspace') })
    base = `http://127.0.0.1:${studio.port}`
    project = (await call<{ dir: string }>('projects.create', { name: 'Up' })).dir
  })
  afterAll(async () => {
    await studio?.close()
    if (prevHome === undefined) delete process.env.CLASSIFIER_STUDIO_HOME
    else process.env.CLASSIFIER_STUDIO_HOME = prevHome
    rmSync(root, { recursive: true, force: true })
  })

  it('refuses requests without the token, for projects not opened, and other methods, with JSON errors', async () => {
    const noToken = await up('begin', { dir: project, name: 'x' }, undefined, { token: null })
    expect(noToken).toMatchObject({ status: 401, type: 'application/json', error: { code: 'FORBIDDEN' } })
    const wrong = await up('begin', { dir: project, name: 'x' }, undefined, { token: 'nope' })
    expect(wrong.status).toBe(401)
    const elsewhere = await up('begin', { dir: join(root, 'not-opened'), name: 'x' })
    expect(elsewhere).toMatchObject({ status: 403, error: { code: 'FORBIDDEN', message: expect.stringMatching(/opened in this session/) } })
    const get = await up('begin', { dir: project, name: 'x' }, undefined, { method: 'GET' })
    expect(get).toMatchObject({ status: 405, error: { code: 'BAD_REQUEST' } })
    const step = await up('nope', { dir: project })
    expect(step).toMatchObject({ status: 404, error: { code: 'NOT_FOUND' } })
    expect(existsSync(uploads()) ? readdirSync(uploads()) : []).toEqual([])
  })

  it('refuses paths that could leave the staging folder or hide files: .., absolute, NUL, hidden, backslash, empty parts', async () => {
    const begun = await up('begin', { dir: project, name: 'flowers', files: 2, bytes: 10 })
    expect(begun.status).toBe(200)
    const { id, source } = begun.result as { id: string; source: string }
    expect(source).toBe(join(uploads(), id, 'flowers'))
    expect(JSON.parse(readFileSync(join(uploads(), id, UPLOAD_MARKER), 'utf8'))).toMatchObject({ app: 'classifier-studio', kind: 'upload', pid: process.pid, name: 'flowers' })
    for (const bad of ['../escape.png', 'a/../../escape.png', '/etc/passwd', 'C:/x.png', 'a\\..\\b.png', 'a\0b.png', '.hidden.png', 'daisy/.DS_Store', '.git/HEAD', 'daisy//x.png', 'daisy/', './x.png', 'x\nb.png', '']) {
      const r = await up('file', { dir: project, id, path: bad }, 'data')
      expect(r.status, JSON.stringify(bad)).toBe(400)
      expect(r.type).toBe('application/json')
      expect(r.error?.code).toBe('INVALID_INPUT')
    }
    for (const bad of ['..', '.x', 'a/b', '']) expect((await up('begin', { dir: project, name: bad })).status, bad).toBe(400)
    expect(readdirSync(source)).toEqual([])
    expect(existsSync(join(uploads(), id, 'escape.png'))).toBe(false)
    expect(existsSync(join(root, 'escape.png'))).toBe(false)

    const ok = await up('file', { dir: project, id, path: 'daisy/one.png' }, 'data')
    expect(ok).toMatchObject({ status: 200, result: { files: 1, bytes: 4 } })
    expect(readFileSync(join(source, 'daisy', 'one.png'), 'utf8')).toBe('data')
    // The same file twice is a conflict; the first stays as it was.
    expect(await up('file', { dir: project, id, path: 'daisy/one.png' }, 'other')).toMatchObject({ status: 409, error: { code: 'CONFLICT' } })
    expect(readFileSync(join(source, 'daisy', 'one.png'), 'utf8')).toBe('data')
    // Another project's (or no) upload id.
    expect(await up('file', { dir: project, id: '0123456789abcdef', path: 'x.png' }, 'x')).toMatchObject({ status: 404, error: { code: 'NOT_FOUND' } })
    expect(await up('file', { dir: project, id: '../..', path: 'x.png' }, 'x')).toMatchObject({ status: 404 })
    expect(await up('discard', { dir: project, id })).toMatchObject({ status: 200, result: { removed: true } })
    expect(existsSync(join(uploads(), id))).toBe(false)
  })

  it('bounds file size, upload size and file count', async () => {
    const saved = { ...UPLOAD_LIMITS }
    try {
      Object.assign(UPLOAD_LIMITS, { fileBytes: 1000, totalBytes: 1500, files: 3, open: 2 })
      const held = [(await up('begin', { dir: project, name: 'one' })).result.id, (await up('begin', { dir: project, name: 'two' })).result.id]
      expect(await up('begin', { dir: project, name: 'three' })).toMatchObject({ status: 409, error: { code: 'CONFLICT', message: expect.stringMatching(/already open/) } })
      // An upload left idle (its page closed) is removed when a new one needs its place.
      UPLOAD_LIMITS.idleMs = 0
      await new Promise((r) => setTimeout(r, 5))
      const third = await up('begin', { dir: project, name: 'three' })
      expect(third.status).toBe(200)
      for (const id of held) expect(existsSync(join(uploads(), id))).toBe(false)
      await up('discard', { dir: project, id: third.result.id })
      expect((await up('begin', { dir: project, name: 'big', files: 4 })).status).toBe(400)
      expect((await up('begin', { dir: project, name: 'big', bytes: 2000 })).status).toBe(400)
      const { id, source } = (await up('begin', { dir: project, name: 'big' })).result as { id: string; source: string }
      const big = await up('file', { dir: project, id, path: 'a/big.png' }, Buffer.alloc(1200))
      expect(big).toMatchObject({ status: 400, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/larger than/) } })
      expect(existsSync(join(source, 'a', 'big.png'))).toBe(false)
      expect((await up('file', { dir: project, id, path: 'a/1.png' }, Buffer.alloc(900))).status).toBe(200)
      expect((await up('file', { dir: project, id, path: 'a/2.png' }, Buffer.alloc(900))).error?.message).toMatch(/This folder is larger than/)
      expect(existsSync(join(source, 'a', '2.png'))).toBe(false)
      expect((await up('file', { dir: project, id, path: 'a/3.png' }, Buffer.alloc(10))).status).toBe(200)
      expect((await up('file', { dir: project, id, path: 'a/4.png' }, Buffer.alloc(10))).status).toBe(200)
      expect((await up('file', { dir: project, id, path: 'a/5.png' }, Buffer.alloc(10))).error?.message).toMatch(/at most 3 files/)
      await up('discard', { dir: project, id })
    } finally {
      Object.assign(UPLOAD_LIMITS, saved)
    }
  })

  it('an uploaded class-folder tree imports like a typed path; the staging folder is then removed', async () => {
    const src = join(root, 'src')
    await writeClassesDataset(src, ['daisy', 'rose'], 4)
    const { id, source } = (await up('begin', { dir: project, name: 'flowers', files: 8 })).result as { id: string; source: string }
    for (const cls of ['daisy', 'rose'])
      for (const f of readdirSync(join(src, cls))) expect((await up('file', { dir: project, id, path: `${cls}/${f}` }, readFileSync(join(src, cls, f)))).status).toBe(200)
    const summary = await call<{ added: number }>('datasets.import', { dir: project, source, options: { size: 32 } })
    expect(summary.added).toBe(8)
    await up('discard', { dir: project, id })
    expect(readdirSync(uploads())).toEqual([])
    // The project keeps its own copy: its images are all there after the staging folder is gone.
    expect((await call<{ total: number }>('datasets.overview', { dir: project })).total).toBe(8)
  })

  it('removes only its own leftovers: a marked folder of a dead process, never an unmarked or a live one', async () => {
    const staging = new UploadStaging(join(root, 'leftovers'))
    const mk = (name: string, marker: object | null) => {
      mkdirSync(join(staging.root, name, 'x'), { recursive: true })
      writeFileSync(join(staging.root, name, 'x', 'a.png'), 'a')
      if (marker) writeFileSync(join(staging.root, name, UPLOAD_MARKER), JSON.stringify(marker))
    }
    const host = (await import('node:os')).hostname()
    mk('00000000000000aa', { app: 'classifier-studio', kind: 'upload', pid: 2 ** 22 + 12345, host })
    mk('00000000000000bb', null)
    mk('00000000000000cc', { app: 'classifier-studio', kind: 'upload', pid: process.ppid, host })
    mk('not-an-upload-id', { app: 'classifier-studio', kind: 'upload', pid: 2 ** 22 + 12345, host })
    mk('00000000000000dd', { app: 'classifier-studio', kind: 'export', pid: 2 ** 22 + 12345, host })
    const removed = await staging.cleanLeftovers()
    expect(removed).toEqual([join(staging.root, '00000000000000aa')])
    expect(readdirSync(staging.root).sort()).toEqual(['00000000000000bb', '00000000000000cc', '00000000000000dd', 'not-an-upload-id'])
  })

  it('uploadPath accepts plain relative paths', () => {
    expect(uploadPath('train/cats/cat 1.jpg')).toEqual(['train', 'cats', 'cat 1.jpg'])
    expect(uploadPath('ü/日本.png')).toEqual(['ü', '日本.png'])
    expect(() => uploadPath('a/'.repeat(20) + 'x.png')).toThrow(/deep/)
  })
})
