import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { contract, domains, methodNames } from '../../src/shared/contract'
import { isolatedHome, tempDir } from '../helpers/env'
import { hasStack, rawHttp, rawRequest, startBridge, type Bridge, type RawReply } from '../helpers/raw-http'

/**
 * A bounded, seeded fuzz of the web bridge on loopback, with the real dispatcher and services
 * behind it and a temp project: malformed HTTP, odd methods, URLs, Host/Origin/Cookie/
 * Authorization/Content-Length headers, WebSocket upgrades, bodies (non-JSON, deep, huge) and
 * wrong-typed arguments for every contract method, with and without the token. It asserts 0
 * crashes (the server still answers at the end), 0 hangs, 0 stacks in answers, 0 5xx (every
 * request here is the caller's error; only the closed weights mirror's 502 NETWORK), and that unauthenticated requests never reach the
 * dispatcher. FUZZ_SEED and FUZZ_COUNT override the seed (16) and the count (1,200).
 */
const SEED = Number(process.env.FUZZ_SEED ?? 16)
const COUNT = Number(process.env.FUZZ_COUNT ?? 1200)
const CONCURRENCY = 8
const TIMEOUT_MS = 10_000
const TOKEN = 'fuzz-token-abcdefghijklmnop'
const UNAUTH = 'UNAUTH-MARKER'

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Case {
  kind: string
  data: Buffer
  /** True when the request carries the right Host, no foreign Origin and the token. */
  authed: boolean
  head?: boolean
  halfClose?: boolean
}

describe('web bridge fuzz (seeded, loopback, bounded)', () => {
  let bridge: Bridge
  let home: ReturnType<typeof isolatedHome>
  let tmp: ReturnType<typeof tempDir>
  let project: string
  const reachedUnauth: string[] = []

  const weightsUrl = process.env.CLASSIFIER_STUDIO_WEIGHTS_URL
  beforeAll(async () => {
    // A mutated body can still reach models.downloadWeights with its default base: no download
    // may leave the machine, so the weights mirror is a closed local port (a NETWORK answer).
    process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = 'http://127.0.0.1:9/'
    home = isolatedHome()
    tmp = tempDir('cs-fuzz-')
    const ws = join(tmp.dir, 'workspace')
    mkdirSync(ws)
    bridge = await startBridge(ws, TOKEN)
    const r = await rawRequest(bridge.server.port, rawHttp('POST', '/api/projects/create', [['Host', bridge.host], ['Authorization', `Bearer ${TOKEN}`], ['Connection', 'close'], ['Content-Length', '20']], '{"name":"Fuzz base"}'))
    expect(r.status).toBe(200)
    project = (JSON.parse(r.body) as { result: { dir: string } }).result.dir
    mkdirSync(join(tmp.dir, 'empty'))
    mkdirSync(join(tmp.dir, 'damaged'))
    writeFileSync(join(tmp.dir, 'damaged', 'project.json'), '{"name": "trunc')
    writeFileSync(join(tmp.dir, 'afile.txt'), 'not a folder')
    mkdirSync(join(tmp.dir, 'userfolder'))
    writeFileSync(join(tmp.dir, 'userfolder', 'holiday.jpg'), 'not really a jpeg')
    const real = bridge.dispatcher.call.bind(bridge.dispatcher)
    vi.spyOn(bridge.dispatcher, 'call').mockImplementation((domain, name, args, ctx) => {
      if (JSON.stringify(args ?? null)?.includes(UNAUTH)) reachedUnauth.push(`${domain}.${name}`)
      return real(domain, name, args, ctx)
    })
  })

  afterAll(async () => {
    if (weightsUrl === undefined) delete process.env.CLASSIFIER_STUDIO_WEIGHTS_URL
    else process.env.CLASSIFIER_STUDIO_WEIGHTS_URL = weightsUrl
    vi.restoreAllMocks()
    await bridge?.server.close()
    rmSync(bridge.staticDir, { recursive: true, force: true })
    tmp.cleanup()
    home.cleanup()
  })

  it(`answers ${COUNT} malformed requests (seed ${SEED}) with well-formed 4xx, no hang, no stack, no crash`, async () => {
    const rnd = prng(SEED)
    const pick = <T,>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]
    const chance = (p: number) => rnd() < p
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1))
    const port = bridge.server.port
    const host = bridge.host
    const huge = Buffer.alloc(9 * 1024 * 1024, 0x61)
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`
    const deepObj = (n: number): unknown => {
      let v: unknown = 'leaf'
      for (let i = 0; i < n; i++) v = { a: v }
      return v
    }
    const t = tmp.dir

    const dirs = [project, join(t, 'empty'), join(t, 'damaged'), join(t, 'afile.txt'), join(t, 'afile.txt', 'sub'), join(t, 'missing', 'x'), join(t, 'userfolder'), `${t}/a\u0000b`, join(t, 'n'.repeat(300)), join(t, `${'d'.repeat(200)}/`.repeat(25)), '', '.', '..', '/etc', '/proc/self', 'relative/dir', '🌸', ' ', '\u202e']
    /** Folders that must not be handed to methods that would start real work (recipes, evaluation, builds). */
    const notProject = dirs.filter((d) => d !== project)
    const bad = [null, 42, -1, 1e308, true, false, [], {}, '', 'x\u0000y', 'a'.repeat(5000), deepObj(70), [1, 'two', null], { __proto__: { polluted: true } }, '🌸', '../../etc/passwd']
    const names = ['Fuzz base', 'Fuzz A', 'Fuzz B', '', '.', '..', 'a/b', 'a\\b', 'x\u0000y', 'n'.repeat(300), 'CON', ' lead', '🌸 Blumen', '.hidden']
    const parents = [undefined, bridge.workspace, t, join(t, 'afile.txt'), join(t, 'missing-parent', 'deeper'), project, join(t, 'userfolder'), '/proc', `${t}\u0000`, '']
    const sources = [join(t, 'empty'), join(t, 'afile.txt'), join(t, 'missing-src'), join(t, 'userfolder'), `${t}/\u0000`, '', 'n'.repeat(5000)]
    const mutate = (v: unknown) => (chance(0.5) ? pick(bad) : v)

    /** Arguments for each method: plausible values mixed with wrong types, NUL bytes, long names, missing folders. */
    const argsFor = (domain: string, method: string): Record<string, unknown> => {
      const dir = () => pick(dirs)
      const safeDir = () => pick(notProject)
      const m = `${domain}.${method}`
      const a: Record<string, unknown> = {}
      switch (m) {
        case 'projects.create':
          a.name = pick(names)
          if (chance(0.6)) a.parent = pick(parents)
          break
        case 'projects.open':
        case 'projects.forget':
          a.dir = dir()
          break
        case 'projects.close':
          a.dir = safeDir()
          break
        case 'projects.rename':
          a.dir = safeDir()
          a.name = pick(names)
          break
        case 'projects.saveState':
          a.dir = dir()
          a.key = pick(['ui', '', 'k'.repeat(100), 'x\u0000', 7])
          a.value = pick([1, 'v', { nested: [1, 2] }, deepObj(int(1, 80)), null, 'x\u0000'])
          break
        case 'datasets.import':
          a.dir = dir()
          a.source = pick(sources)
          if (chance(0.5)) a.options = pick([{ size: -1 }, { size: 10_000 }, { val: 2 }, { background: 'red' }, { seed: 1.5 }, { split: 'nope' }, null, 'opts'])
          break
        case 'datasets.items':
          a.dir = dir()
          if (chance(0.5)) Object.assign(a, pick([{ offset: -1 }, { limit: 0 }, { limit: 1e9 }, { split: 'nope' }, { label: 5 }, { offset: 2 }]))
          break
        case 'datasets.exclude':
          a.dir = dir()
          a.ids = pick([[], [-1], [0], [1.5], 'all', [1e12]])
          a.excluded = pick([true, 'yes', null])
          break
        case 'datasets.augmentPreview':
          a.dir = dir()
          if (chance(0.5)) Object.assign(a, pick([{ count: 0 }, { count: 1000 }, { augment: 'nope=1' }, { augment: 'x\u0000' }, { seed: 'a' }]))
          break
        case 'models.summary':
          if (chance(0.5)) a.dir = safeDir()
          if (chance(0.5)) a.name = pick(['no-such-model', '', 'x\u0000', 42])
          if (chance(0.3)) a.spec = pick([{}, { type: 'nope' }, { type: 'cnn' }, { type: 'transfer', base: 'nope' }, deepObj(70)])
          break
        case 'models.weights':
        case 'models.downloadWeights':
          // Never a valid base: the fuzz must not download the official weights (13 MB from the internet).
          a.base = pick(['nope', '', 'MobileNetV2', 42, null, 'vgg'])
          a.inputSize = pick([0, -1, 'x', 1e9, 96.5])
          break
        case 'models.choose':
          a.dir = dir()
          a.spec = pick([{}, { type: 'nope' }, { type: 'cnn', layers: 'x' }, { type: 'transfer', base: 'nope' }, null, deepObj(70)])
          break
        case 'training.start':
          // The real project too: it has no images, which training.start answers before starting a process.
          a.dir = dir()
          if (chance(0.5)) a.options = pick([{ epochs: -1 }, { learningRate: 'fast' }, { recipe: 'nope' }, { baseWeights: '/etc/passwd' }, null])
          break
        case 'training.exportJob':
          // Never an exportable project (the real one has no images, refused before any file is
          // written) and never a usable folder: the fuzz must not write a job.
          a.dir = dir()
          a.out = pick([project, join(project, 'runs'), join(t, 'userfolder'), join(t, 'afile.txt', 'sub'), `${t}/o\u0000ut`, '', join(t, 'n'.repeat(300)), 42])
          if (chance(0.5)) a.overwrite = pick([true, 'yes', null])
          if (chance(0.5)) a.options = pick([{ epochs: -1 }, { recipe: 'nope' }, { resumeRunId: 'x' }, null])
          break
        case 'training.importJob':
          a.dir = dir()
          a.jobDir = pick([join(t, 'empty'), join(t, 'userfolder'), join(t, 'afile.txt'), join(t, 'missing-job'), `${t}/j\u0000ob`, '', 7])
          break
        case 'training.run':
          a.dir = dir()
          a.runId = pick(['no-such-run', '', '../../etc', 'x\u0000', 3])
          break
        case 'training.stop':
        case 'training.status':
        case 'training.runs':
        case 'examples.run':
          a.dir = m === 'examples.run' ? safeDir() : dir()
          break
        case 'evaluation.evaluate':
          a.dir = safeDir()
          if (chance(0.5)) a.options = pick([{ split: 'nope' }, { batchSize: 0 }, { digits: 99 }, null])
          break
        case 'evaluation.predict':
          a.dir = safeDir()
          a.paths = pick([[], [join(t, 'afile.txt')], ['x\u0000'], 'one', [42]])
          break
        case 'evaluation.predictUploads':
          a.dir = safeDir()
          a.files = pick([[], [{ name: 'a.png', base64: '!!!' }], [{ name: '', base64: '' }], [{ name: 'x'.repeat(300), base64: 'AA==' }], 'file'])
          break
        case 'export.run':
          a.dir = dir()
          a.options = pick([
            { format: 'onnx', out: project, overwrite: true },
            { format: 'onnx', out: join(t, 'userfolder'), overwrite: true },
            { format: 'tfjs', out: join(t, 'afile.txt', 'sub') },
            { format: 'nope', out: join(t, 'x') },
            { format: 'onnx', out: `${t}/o\u0000ut` },
            { format: 'onnx', out: '' },
            { format: 'onnx', out: join(t, 'n'.repeat(300)) },
            null,
          ])
          break
        case 'examples.create':
          a.name = pick(names)
          a.example = pick(['no-such-example', '', 'x\u0000', 42, '../../etc'])
          if (chance(0.5)) a.parent = pick(parents)
          if (chance(0.3)) a.source = pick(sources)
          break
        default:
          if (chance(0.5)) a.dir = dir()
      }
      // Then break it more: wrong types for named fields, unknown fields, dropped fields.
      if (chance(0.4)) for (const k of Object.keys(a)) a[k] = mutate(a[k])
      if (chance(0.2)) a[pick(['extra', '__proto__', 'constructor', 'x\u0000'])] = pick(bad)
      if (chance(0.15)) delete a[pick(Object.keys(a).length ? Object.keys(a) : ['none'])]
      return a
    }
    const methods = domains().flatMap((d) => methodNames(d).map((m) => [d, m] as const))
    expect(methods.length).toBe(Object.values(contract).reduce((n, d) => n + Object.keys(d).length, 0))

    const hostVariants = () => pick([host, `localhost:${port}`, '', 'evil.example', `127.0.0.1:${port}.evil.example`, `[::1]:${port}`, 'ĥöst', '%', 'a b', `127.0.0.1:${port}@evil`, 'h'.repeat(int(100, 12_000)), `127.0.0.1:${port + 1}`])
    const authHeaders = (authed: boolean): [string, string][] => {
      if (authed) return pick([[['Authorization', `Bearer ${TOKEN}`]], [['Cookie', `cs_token=${TOKEN}`]], [['Cookie', `a=b; cs_token=${TOKEN}; c=d`]]] as [string, string][][])
      return pick([[], [['Authorization', 'Bearer wrong']], [['Authorization', 'Basic dXNlcjpwYXNz']], [['Authorization', 'Bearer']], [['Cookie', 'cs_token=']], [['Cookie', ';;;=;']], [['Cookie', `cs_token=${'x'.repeat(3000)}`]], [['Authorization', `bearer ${TOKEN}`]]] as [string, string][][])
    }
    const paths = () =>
      pick([
        '/',
        '/index.html',
        '/%',
        '/%E0%A4%A',
        '/%00',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/../../etc/passwd',
        '//x',
        '///',
        '/api',
        '/api/',
        '/api/projects',
        '/api/projects/open/extra',
        '/api/%/%',
        '/api/__proto__/x',
        '/api/projects/constructor',
        '/api/cancel/call',
        '/files/thumb?dir=%00&id=1',
        `/files/thumb?dir=${encodeURIComponent(project)}&id=-1`,
        `/files/thumb?dir=${encodeURIComponent(project)}&id=0&size=1e9`,
        '/files/%',
        '/events',
        `/${'a'.repeat(int(1, 7000))}`,
        '/ĥöst',
        '/?token=%',
        `/?token=${TOKEN}`,
        `/?${'&'.repeat(2000)}`,
        '/\u0001',
      ])
    const methodsHttp = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO', 'PROPFIND', 'PURGE', 'M-SEARCH', 'LINK']

    const cases: Case[] = []
    const body = (b: string | Buffer) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b)
    const api = (domain: string, method: string, text: Buffer, authed: boolean, extra: [string, string][] = []): Case => {
      const headers: [string, string][] = [['Host', authed ? host : hostVariants()], ...authHeaders(authed), ['Content-Type', pick(['application/json', 'text/plain', 'multipart/form-data; boundary=x', '', 'application/json; charset=latin1'])], ['Content-Length', String(text.length)], ['Connection', pick(['close', 'keep-alive'])], ...extra]
      if (authed && chance(0.3)) headers.push(['Origin', `http://${host}`])
      if (authed && chance(0.2)) headers.push(['X-Call-Id', pick(['c1', '', 'x'.repeat(500), '\u00ff'])])
      return { kind: authed ? 'api' : 'api-unauth', data: rawHttp('POST', `/api/${domain}/${method}`, headers, text), authed }
    }
    for (let i = 0; i < COUNT; i++) {
      const r = rnd()
      if (r < 0.34) {
        // Every contract method, wrong-typed arguments, with the token.
        const [d, m] = pick(methods)
        cases.push(api(d, m, body(JSON.stringify(argsFor(d, m))), true))
      } else if (r < 0.46) {
        // The same without the right token, Host or Origin: must never reach the dispatcher.
        const [d, m] = pick(methods)
        const a = { ...argsFor(d, m), marker: UNAUTH }
        const c = api(d, m, body(JSON.stringify(a)), false, chance(0.3) ? [['Origin', pick(['http://evil.example', 'null', '', `https://${host}`])]] : [])
        cases.push(c)
      } else if (r < 0.56) {
        // Bodies: not JSON, deep, huge, empty, wrong top-level types.
        const [d, m] = chance(0.8) ? pick(methods) : [pick(['nope', 'cancel', '__proto__', '%00']), pick(['x', 'call', 'toString'])]
        const k = rnd()
        const text =
          k < 0.15
            ? body(`{"dir":"${project}","key":"k","value":${deep(int(65, 200_000))}}`)
            : k < 0.2
              ? body(deep(int(1, 64)))
              : k < 0.23
                ? huge
                : k < 0.5
                  ? body(pick(['', '{', '{"a":', 'null', '[]', '"str"', '42', 'true', 'undefined', '{"dir":}', '\u0000', '{"dir":"\\ud800"}', '{"__proto__":{"dir":1}}', '{"dir":"x","dir":"y"}']))
                  : k < 0.7
                    ? Buffer.from(Array.from({ length: int(1, 400) }, () => int(0, 255)))
                    : body(JSON.stringify({ dir: pick(notProject), junk: 'x'.repeat(int(1, 200_000)) }))
        cases.push(api(d, m, text, true))
      } else if (r < 0.76) {
        // Any method, path and header, with or without the token.
        const authed = chance(0.6)
        const method = pick(methodsHttp)
        const headers: [string, string][] = [['Host', authed ? host : hostVariants()], ...authHeaders(authed), ['Connection', 'close']]
        if (chance(0.3)) headers.push(['Origin', pick([`http://${host}`, 'http://evil.example', 'null', ''])])
        if (chance(0.2)) headers.push([pick(['X-Forwarded-For', 'Range', 'If-None-Match', 'Accept-Encoding', 'Expect', 'Transfer-Encoding']), pick(['gzip', 'bytes=0-1', '*', '100-continue', 'whatever', 'x'.repeat(2000)])])
        const hasBody = method !== 'GET' && method !== 'HEAD' && chance(0.5)
        const b = hasBody ? body(pick(['{}', 'x', '{"dir":1}'])) : Buffer.alloc(0)
        if (hasBody) headers.push(['Content-Length', String(b.length)])
        const origin = headers.find(([k]) => k === 'Origin')?.[1]
        const hostOk = [host, `localhost:${port}`].includes(headers[0][1])
        const path = paths()
        const tokenOk = authed || path.includes(`token=${TOKEN}`)
        const originOk = origin === undefined || origin === `http://${headers[0][1]}`
        cases.push({ kind: 'any', data: rawHttp(method, path, headers, b), authed: hostOk && tokenOk && originOk, head: method === 'HEAD' })
      } else if (r < 0.88) {
        // WebSocket upgrades with weird Host, paths and handshake headers.
        const authed = chance(0.5)
        const headers: [string, string][] = [['Host', authed ? host : hostVariants()], ['Connection', pick(['Upgrade', 'upgrade, keep-alive', 'close, Upgrade'])], ['Upgrade', pick(['websocket', 'WebSocket', 'h2c', 'x'])], ...authHeaders(authed)]
        if (chance(0.8)) headers.push(['Sec-WebSocket-Key', pick(['dGhlIHNhbXBsZSBub25jZQ==', '', 'short', 'x'.repeat(100)])])
        if (chance(0.8)) headers.push(['Sec-WebSocket-Version', pick(['13', '8', '', 'x'])])
        if (chance(0.7)) headers.push(['Origin', pick([`http://${host}`, 'http://evil.example', 'null'])])
        cases.push({ kind: 'upgrade', data: rawHttp(pick(['GET', 'GET', 'POST']), pick(['/events', '/events?x=%', '/%', '/%E0%A4%A', '//x', '/api/projects/open', `/events/${'a'.repeat(int(1, 5000))}`]), headers), authed })
      } else {
        // Malformed HTTP itself.
        const k = int(0, 11)
        const auth = `Authorization: Bearer ${TOKEN}\r\n`
        const raw = [
          'HELLO\r\n\r\n',
          `GET / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
          `POST /api/app/info HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}`,
          `POST /api/app/info HTTP/1.1\r\nHost: ${host}\r\n${auth}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
          `GET / HTTP/1.1\r\nHost: ${host}\r\nX: ${'y'.repeat(int(17_000, 40_000))}\r\n\r\n`,
          `GET / HTTP/1.0\r\n${auth}\r\n`,
          `GET http://evil.example/ HTTP/1.1\r\nHost: ${host}\r\n${auth}Connection: close\r\n\r\n`,
          'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
          `GET / HTTP/1.1\r\nHost: ${host}\r\nBad Header Line\r\n\r\n`,
          `get / HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
          `CONNECT ${host} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
          `POST /api/app/info HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Length: ${int(10, 1000)}\r\n\r\n{"trunc`,
        ][k]
        cases.push({ kind: k === 11 ? 'truncated' : 'malformed', data: Buffer.from(raw, 'latin1'), authed: false, halfClose: k === 11 })
      }
    }

    const replies: { c: Case; r: RawReply }[] = []
    const started = Date.now()
    let next = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]
          replies.push({ c, r: await rawRequest(bridge.server.port, c.data, TIMEOUT_MS, { head: c.head, halfClose: c.halfClose }) })
        }
      }),
    )
    const seconds = (Date.now() - started) / 1000

    const histogram: Record<string, number> = {}
    /** Error codes of the authenticated API calls: which real services answered what. */
    const codes: Record<string, number> = {}
    const byKind: Record<string, Record<string, number>> = {}
    const problems: string[] = []
    const show = (c: Case) => JSON.stringify(c.data.subarray(0, 300).toString('latin1'))
    for (const { c, r } of replies) {
      const key = r.timedOut ? 'timeout' : r.status === null ? 'closed' : String(r.status)
      histogram[key] = (histogram[key] ?? 0) + 1
      byKind[c.kind] ??= {}
      byKind[c.kind][key] = (byKind[c.kind][key] ?? 0) + 1
      if (r.timedOut) problems.push(`hang: ${show(c)}`)
      else if (r.status === null && c.kind !== 'truncated') problems.push(`closed without an answer (${r.error ?? 'EOF'}): ${show(c)}`)
      // 502 NETWORK is the closed weights mirror above (the network's failure, not the app's).
      else if (r.status !== null && r.status >= 500 && !(r.status === 502 && r.body.includes('"code":"NETWORK"'))) problems.push(`${r.status} ${r.body.slice(0, 300)}: ${show(c)}`)
      if (hasStack(r.body)) problems.push(`stack in answer: ${r.body.slice(0, 300)}`)
      if (r.status !== null && r.status >= 400 && !c.head && r.headers['content-type']?.startsWith('application/json')) {
        const msg = (() => {
          try {
            return (JSON.parse(r.body) as { error?: { message?: unknown } }).error?.message
          } catch {
            return undefined
          }
        })()
        if (typeof msg !== 'string' || !msg) problems.push(`${r.status} without a JSON error message: ${r.body.slice(0, 200)}`)
      }
      if (c.kind === 'api' && r.status !== null && r.status >= 400) {
        const code = /"code":"([A-Z_]+)"/.exec(r.body)?.[1] ?? '?'
        codes[code] = (codes[code] ?? 0) + 1
      }
      if (!c.authed && c.kind !== 'malformed' && c.kind !== 'truncated' && r.status !== null && r.status < 400 && r.status !== 101) problems.push(`unauthenticated request answered ${r.status}: ${show(c)}`)
    }
    console.log(`web bridge fuzz: seed ${SEED}, ${replies.length} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(histogram)}`)
    for (const [k, h] of Object.entries(byKind)) console.log(`  ${k}: ${JSON.stringify(h)}`)
    console.log(`  error codes of authenticated API calls: ${JSON.stringify(codes)}`)
    if (problems.length) console.log(problems.slice(0, 30).join('\n'))

    expect(replies.length).toBe(COUNT)
    expect(problems).toEqual([])
    expect(reachedUnauth).toEqual([])
    // The fuzz reached the real services, not only the argument checks.
    for (const code of ['BAD_REQUEST', 'INVALID_INPUT', 'FORBIDDEN', 'NOT_A_PROJECT']) expect(codes[code], code).toBeGreaterThan(0)

    // 0 crashes: the same server still answers a valid call and a valid WebSocket upgrade, and the project is intact.
    const alive = await rawRequest(bridge.server.port, rawHttp('POST', '/api/app/info', [['Host', host], ['Authorization', `Bearer ${TOKEN}`], ['Connection', 'close'], ['Content-Length', '2']], '{}'))
    expect(alive.status).toBe(200)
    const ws = await rawRequest(bridge.server.port, rawHttp('GET', '/events', [['Host', host], ['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='], ['Sec-WebSocket-Version', '13'], ['Origin', `http://${host}`], ['Cookie', `cs_token=${TOKEN}`]]))
    expect(ws.status).toBe(101)
    expect(existsSync(join(project, 'project.json'))).toBe(true)
  })
})
