/**
 * Gradient kernels the TF.js wasm backend lacks (or has only as slow scalar loops),
 * composed from the wasm backend's own XNNPACK-backed kernels so that tf.layers
 * models train on wasm.
 *
 * Every kernel here works on TensorInfos directly through the wasm backend's kernel
 * functions (never through tf ops), so the engine sees exactly one kernel call and every
 * intermediate buffer is freed with backend.disposeData before returning.
 *
 * Registered kernels:
 * - Conv2DBackpropFilter: the filter gradient is itself a convolution. With the (padded)
 *   input transposed to [Cin, H, W, N] as the image and dy transposed to [Ho, Wo, N, Cout]
 *   as the filter, a stride-1 convolution with dilation = forward stride gives
 *   [Cin, >=kh, >=kw, Cout]; keep the first kh x kw and transpose to [kh, kw, Cin, Cout].
 *   With few input channels (Cin*kh*kw < 32) im2col + one GEMM instead; 1x1 as one GEMM.
 * - Conv2DBackpropInput (replaces wasm's scalar loop): convolution of dy, zero-upsampled
 *   by the stride, with the spatially flipped filter transposed to [kh, kw, Cout, Cin].
 * - DepthwiseConv2dNativeBackpropInput: the same transposed convolution as a depthwise
 *   convolution (channels C*multiplier, summed over the multiplier).
 * - DepthwiseConv2dNativeBackpropFilter: one JS pass over dy accumulating input x dy per
 *   filter tap (channels contiguous).
 * - Faster replacements for wasm kernels that run as scalar loops where training needs
 *   them: MaxPoolGrad, Sum/Mean over leading axes, transposed BatchMatMul/_FusedMatMul,
 *   Tile of a block along leading axes.
 */
import * as tf from '@tensorflow/tfjs'
import type { KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs'
import { CLIP_GRAD_WASM } from './clip-grad-wasm'
import { CONV_FILTER_GRAD_WASM } from './conv-filter-grad-wasm'
import { DEPTHWISE_FILTER_GRAD_WASM } from './depthwise-filter-grad-wasm'
import { MAXPOOL_GRAD_WASM } from './maxpool-grad-wasm'
import { SUM_ROWS_WASM } from './sum-rows-wasm'

const { backend_util } = tf
type ExplicitPadding = [[number, number], [number, number], [number, number], [number, number]]
type Backend = tf.KernelBackend & {
  disposeData(dataId: object, force?: boolean): boolean
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo
  typedArrayFromHeap(info: TensorInfo): Float32Array
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined }
  wasm?: { asm?: { memory?: unknown } }
}
/** Built-in wasm kernels this module replaced, by name. */
const builtins = new Map<string, KernelConfig['kernelFunc']>()
type KernelArgs = { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }

/** Runs a registered wasm kernel function directly (no engine bookkeeping). */
function run(backend: Backend, name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
  const k = tf.getKernel(name, 'wasm')
  if (k == null) throw new Error(`wasm gradient kernels need the wasm kernel '${name}', which is not registered. Import '@tensorflow/tfjs-backend-wasm' before registering the gradient kernels.`)
  const out = k.kernelFunc({ inputs, attrs, backend }) as TensorInfo | TensorInfo[]
  return Array.isArray(out) ? out[0]! : out
}

// Node's WebAssembly global (its types come with the DOM lib, which the main process does not load).
const WA = (globalThis as unknown as { WebAssembly: { Memory: abstract new () => object; Module: new (bytes: Uint8Array) => object; Instance: new (m: object, imports: object) => { exports: Record<string, unknown> } } }).WebAssembly
type MaxPoolGrad2x2 = (x: number, dy: number, dx: number, n: number, ho: number, wo: number, c: number) => void
type ConvFilterGrad = (x: number, dy: number, dw: number, n: number, h: number, w: number, ci: number, ho: number, wo: number, co: number, kh: number, kw: number, sh: number, sw: number, pt: number, pl: number) => void
type ClipGrad = (x: number, dy: number, out: number, n: number, min: number, max: number) => void
type SumRows = (x: number, out: number, tmp: number, outer: number, inner: number, scale: number) => void
type DepthwiseFilterGrad = (x: number, dy: number, dw: number, n: number, h: number, w: number, c: number, ho: number, wo: number, kh: number, kw: number, sh: number, sw: number, dh: number, dwl: number, pt: number, pl: number) => void
interface SimdKernels {
  depthwiseFilterGrad: DepthwiseFilterGrad
  maxPoolGrad2x2: MaxPoolGrad2x2
  convFilterGrad: ConvFilterGrad
  clipGrad: ClipGrad
  sumRows: SumRows
}
const simdByBackend = new WeakMap<object, SimdKernels | null>()
/**
 * The hand-written SIMD kernels (*.wat, compiled by scripts/wasm-kernels.mjs) instantiated on
 * the backend's own memory, so they read and write its tensors in place; null where that
 * memory is not reachable (the JS paths run instead).
 */
function simdKernels(be: Backend): SimdKernels | null {
  if (!simdByBackend.has(be)) {
    const memory = be.wasm?.asm?.memory
    let kernels: SimdKernels | null = null
    if (memory instanceof WA.Memory) {
      const load = (b64: string, name: string) => new WA.Instance(new WA.Module(Buffer.from(b64, 'base64')), { env: { memory } }).exports[name]
      kernels = {
        depthwiseFilterGrad: load(DEPTHWISE_FILTER_GRAD_WASM, 'depthwiseFilterGrad') as DepthwiseFilterGrad,
        maxPoolGrad2x2: load(MAXPOOL_GRAD_WASM, 'maxPoolGrad2x2') as MaxPoolGrad2x2,
        convFilterGrad: load(CONV_FILTER_GRAD_WASM, 'convFilterGrad') as ConvFilterGrad,
        clipGrad: load(CLIP_GRAD_WASM, 'clipGrad') as ClipGrad,
        sumRows: load(SUM_ROWS_WASM, 'sumRows') as SumRows,
      }
    }
    simdByBackend.set(be, kernels)
  }
  return simdByBackend.get(be)!
}
const heapAddress = (be: Backend, t: TensorInfo) => be.dataIdMap.get(t.dataId)!.memoryOffset

/** Small helper that remembers intermediates and frees them at the end. */
class Scratch {
  private readonly infos: TensorInfo[] = []
  constructor(readonly backend: Backend) {}
  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const out = run(this.backend, name, inputs, attrs)
    this.infos.push(out)
    return out
  }
  /** Like run, but the result is handed to the caller (not freed by dispose). */
  keep(info: TensorInfo): TensorInfo {
    const i = this.infos.lastIndexOf(info)
    if (i >= 0) this.infos.splice(i, 1)
    return info
  }
  /** A new float32 tensor to fill through the heap, freed by dispose. */
  output(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32')
    this.infos.push(out)
    return out
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm })
  }
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape })
  }
  pad(x: TensorInfo, paddings: Array<[number, number]>): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x
    return this.run('PadV2', { x }, { paddings, constantValue: 0 })
  }
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x
    return this.run('Slice', { x }, { begin, size })
  }
  dispose(): void {
    // Reshape outputs share a dataId with their input (ref-counted), so each info is
    // released exactly once, in reverse order of creation.
    for (let i = this.infos.length - 1; i >= 0; i--) this.backend.disposeData(this.infos[i]!.dataId)
    this.infos.length = 0
  }
}

type Pads = { top: number; bottom: number; left: number; right: number }

/**
 * Inserts (s-1) zeros between rows/columns of an NHWC tensor, then pads it so that a
 * stride-1 convolution with an effective kernel of kh x kw gives outH x outW.
 * Returns the tensor and the explicit paddings the convolution must add (non-negative).
 */
function upsampleAndPad(
  sc: Scratch, dy: TensorInfo, sh: number, sw: number,
  khEff: number, kwEff: number, pads: Pads, outH: number, outW: number,
): { t: TensorInfo; pad: [[0, 0], [number, number], [number, number], [0, 0]] } {
  const [n, ho, wo, c] = dy.shape as [number, number, number, number]
  let t = dy
  let hUp = ho
  let wUp = wo
  if (sh > 1 || sw > 1) {
    const r = sc.reshape(dy, [n, ho, 1, wo, 1, c])
    const p = sc.pad(r, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]])
    hUp = ho * sh
    wUp = wo * sw
    t = sc.reshape(p, [n, hUp, wUp, c])
  }
  // Wanted: (padTop + used + padBottom) - khEff + 1 = outH, used rows start at 0.
  const padTop = khEff - 1 - pads.top
  const padLeft = kwEff - 1 - pads.left
  if (padTop < 0 || padLeft < 0) {
    throw new Error(`wasm conv gradient: padding (${pads.top}, ${pads.left}) larger than the filter (${khEff}x${kwEff}) is not supported.`)
  }
  let padBottom = outH + khEff - 1 - padTop - hUp
  let padRight = outW + kwEff - 1 - padLeft - wUp
  if (padBottom < 0 || padRight < 0) {
    // The upsampled dy carries trailing zero rows/cols (or rows the forward pass never
    // reached): cut them instead of padding negatively.
    const keepH = hUp + Math.min(0, padBottom)
    const keepW = wUp + Math.min(0, padRight)
    t = sc.slice(t, [0, 0, 0, 0], [n, keepH, keepW, c])
    padBottom = Math.max(0, padBottom)
    padRight = Math.max(0, padRight)
  }
  return { t, pad: [[0, 0], [padTop, padBottom], [padLeft, padRight], [0, 0]] }
}

function conv2DBackpropFilter({ inputs, attrs, backend }: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo }
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number; pad: 'valid' | 'same' | number | ExplicitPadding
    dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number]
  }
  const fmt = backend_util.convertConv2DDataFormat(dataFormat)
  if (fmt !== 'channelsLast') throw new Error(`wasm Conv2DBackpropFilter supports dataFormat 'NHWC' only, got '${dataFormat}'.`)
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, fmt)
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info
  const sc = new Scratch(backend as Backend)
  try {
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0) {
      // Pointwise convolution: dW = x^T · dy over all N*H*W positions.
      const a = sc.reshape(x, [1, n * h * w, ci])
      const b = sc.reshape(dy, [1, n * ho * wo, co])
      const m = sc.run('BatchMatMul', { a, b }, { transposeA: true, transposeB: false })
      return sc.keep(run(sc.backend, 'Reshape', { x: m }, { shape: [1, 1, ci, co] }))
    }
    const simd = ci * kh * kw < 32 && co % 4 === 0 ? simdKernels(sc.backend)?.convFilterGrad : null
    if (simd) {
      // Few input channels (first layers on grayscale or RGB): one SIMD pass over x and dy
      // (conv-filter-grad.wat), ~4x the im2col + GEMM below.
      const out = sc.backend.makeOutput([kh, kw, ci, co], 'float32')
      const be = sc.backend
      simd(heapAddress(be, x), heapAddress(be, dy), heapAddress(be, out), n, h, w, ci, ho, wo, co, kh, kw, sh, sw, padInfo.top, padInfo.left)
      return out
    }
    if (ci * kh * kw < 32) {
      // Few input channels (e.g. the first layer on grayscale images): the convolution
      // below would run with a tiny output (ci x kh x kw); im2col + one GEMM is ~3x faster.
      // Patches [N*Ho*Wo, kh*kw*Ci] written in one JS pass (zeros where the window leaves the
      // image); dWᵀ = dyᵀ · patches, so that XNNPACK packs the patches (the smaller operand,
      // packed anew at every call) rather than dy.
      const K = kh * kw * ci
      const P = n * ho * wo
      const patches = sc.output([1, P, K])
      const pv = sc.backend.typedArrayFromHeap(patches)
      const xv = sc.backend.typedArrayFromHeap(x)
      let o = 0
      for (let img = 0; img < n; img++) {
        const base = img * h * w * ci
        for (let i = 0; i < ho; i++) {
          for (let j = 0; j < wo; j++) {
            for (let a = 0; a < kh; a++) {
              const r = i * sh + a - padInfo.top
              for (let b = 0; b < kw; b++) {
                const q = j * sw + b - padInfo.left
                if (r < 0 || r >= h || q < 0 || q >= w) {
                  pv.fill(0, o, o + ci)
                  o += ci
                  continue
                }
                const at = base + (r * w + q) * ci
                for (let c = 0; c < ci; c++, o++) pv[o] = xv[at + c]!
              }
            }
          }
        }
      }
      const dyT = sc.transpose(sc.reshape(dy, [1, P, co]), [0, 2, 1])
      const m = sc.run('BatchMatMul', { a: dyT, b: patches }, { transposeA: false, transposeB: false }) // [1, Co, K]
      return sc.keep(run(sc.backend, 'Reshape', { x: sc.transpose(m, [0, 2, 1]) }, { shape: [kh, kw, ci, co] }))
    }
    const xt = sc.transpose(x, [3, 1, 2, 0]) // [Ci, H, W, N]
    const f = sc.transpose(dy, [1, 2, 0, 3]) // [Ho, Wo, N, Co]
    const explicit: ExplicitPadding = [[0, 0], [padInfo.top, padInfo.bottom], [padInfo.left, padInfo.right], [0, 0]]
    const c = sc.run('Conv2D', { x: xt, filter: f }, { strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw] })
    const cs = sc.slice(c, [0, 0, 0, 0], [ci, kh, kw, co])
    return sc.keep(sc.transpose(cs, [1, 2, 0, 3]))
  } finally {
    sc.dispose()
  }
}

function conv2DBackpropInput({ inputs, attrs, backend }: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo }
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
    strides: [number, number] | number; pad: 'valid' | 'same' | number | ExplicitPadding
    dataFormat: 'NHWC' | 'NCHW'; dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number]
  }
  const fmt = backend_util.convertConv2DDataFormat(dataFormat)
  if (fmt !== 'channelsLast') throw new Error(`wasm Conv2DBackpropInput supports dataFormat 'NHWC' only, got '${dataFormat}'.`)
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, fmt)
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outChannels: co, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info
  const sc = new Scratch(backend as Backend)
  try {
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && padInfo.top === 0 && padInfo.left === 0) {
      // Pointwise convolution: dx = dy · W^T.
      const a = sc.reshape(dy, [1, n * h * w, co])
      const b = sc.reshape(filter, [1, ci, co])
      const m = sc.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: true })
      return sc.keep(run(sc.backend, 'Reshape', { x: m }, { shape: [n, h, w, ci] }))
    }
    // Flip spatially and swap in/out channels: [kh, kw, Co, Ci].
    const fr = sc.run('Reverse', { x: filter }, { dims: [0, 1] })
    const ft = sc.transpose(fr, [0, 1, 3, 2])
    const { t, pad: p } = upsampleAndPad(sc, dy, sh, sw, kh, kw, padInfo, h, w)
    return sc.keep(sc.run('Conv2D', { x: t, filter: ft }, { strides: [1, 1], pad: p, dataFormat: 'NHWC', dilations: [1, 1] }))
  } finally {
    sc.dispose()
  }
}

function depthwiseBackpropInput({ inputs, attrs, backend }: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo }
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as {
    strides: [number, number] | number; dilations: [number, number] | number; pad: 'valid' | 'same' | number | ExplicitPadding
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number]
  }
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, dilations ?? 1, pad, dimRoundingMode, true)
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info
  const mult = filter.shape[3]!
  const sc = new Scratch(backend as Backend)
  try {
    // Flipped filter, one channel per (c, m): [kh, kw, C*mult, 1].
    const fr = sc.run('Reverse', { x: filter }, { dims: [0, 1] })
    const f = sc.reshape(fr, [kh, kw, c * mult, 1])
    const khEff = (kh - 1) * dh + 1
    const kwEff = (kw - 1) * dw + 1
    const { t, pad: p } = upsampleAndPad(sc, dy, sh, sw, khEff, kwEff, padInfo, h, w)
    const out = sc.run('DepthwiseConv2dNative', { x: t, filter: f }, { strides: [1, 1], pad: p, dilations: [dh, dw] })
    if (mult === 1) return sc.keep(out)
    const r = sc.reshape(out, [n, h, w, c, mult])
    return sc.keep(sc.run('Sum', { x: r }, { axis: [4], keepDims: false }))
  } finally {
    sc.dispose()
  }
}

function depthwiseBackpropFilter({ inputs, attrs, backend }: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo }
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number; dilations: [number, number] | number; pad: 'valid' | 'same' | number | ExplicitPadding
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number]
  }
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations ?? 1, pad, dimRoundingMode, true)
  const { batchSize: n, inChannels: c, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info
  const mult = filterShape[3]
  const be = backend as Backend
  const { inHeight: h, inWidth: w } = info
  const simd = mult === 1 && c % 4 === 0 ? simdKernels(be)?.depthwiseFilterGrad : null
  if (simd) {
    // MobileNet's case (multiplier 1, channels a multiple of 4): depthwise-filter-grad.wat, ~5x the JS pass below.
    const out = be.makeOutput([kh, kw, c, 1], 'float32')
    simd(heapAddress(be, x), heapAddress(be, dy), heapAddress(be, out), n, h, w, c, ho, wo, kh, kw, sh, sw, dh, dw, padInfo.top, padInfo.left)
    return out
  }
  // One pass over dy in JS: for every output position and filter tap, multiply-add the
  // input pixel's channels (contiguous in NHWC) into a float64 accumulator. Composing this
  // from strided slices + multiply + reduce ran ~50x slower on wasm.
  const cm = c * mult
  const acc = new Float64Array(kh * kw * cm)
  const out = be.makeOutput([kh, kw, c, mult], 'float32')
  const xv = be.typedArrayFromHeap(x)
  const dyv = be.typedArrayFromHeap(dy)
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < ho; i++) {
      for (let ta = 0; ta < kh; ta++) {
        const r = i * sh + ta * dh - padInfo.top
        if (r < 0 || r >= h) continue
        const xRow = (b * h + r) * w
        for (let j = 0; j < wo; j++) {
          const dyBase = ((b * ho + i) * wo + j) * cm
          for (let tb = 0; tb < kw; tb++) {
            const q = j * sw + tb * dw - padInfo.left
            if (q < 0 || q >= w) continue
            const xBase = (xRow + q) * c
            const accBase = (ta * kw + tb) * cm
            if (mult === 1) {
              for (let ch = 0; ch < c; ch++) acc[accBase + ch] += xv[xBase + ch]! * dyv[dyBase + ch]!
            } else {
              for (let ch = 0; ch < c; ch++) {
                const xc = xv[xBase + ch]!
                for (let mm = 0; mm < mult; mm++) acc[accBase + ch * mult + mm] += xc * dyv[dyBase + ch * mult + mm]!
              }
            }
          }
        }
      }
    }
  }
  be.typedArrayFromHeap(out).set(acc)
  return out
}

/**
 * Tile of a block along leading axes only (BatchNormalization's gradient tiles [1,1,1,C]
 * to [N,H,W,C]): wasm's generic Tile computes an index per element, ~50x slower than
 * repeating the contiguous block with copyWithin. Other tilings go to the built-in.
 */
function tileKernel({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const builtin = builtins.get('Tile')
  if (builtin == null) throw new Error('wasm Tile: the built-in kernel was not captured before registration.')
  const x = inputs.x!
  const { reps } = (attrs ?? {}) as { reps: number[] }
  const rank = x.shape.length
  // Leading axes: x has size 1 there; trailing axes: reps 1. Some split point must exist.
  let split = 0
  while (split < rank && x.shape[split] === 1) split++
  const ok = (x.dtype === 'float32' || x.dtype === 'int32') && reps.length === rank && reps.slice(split).every((r) => r === 1)
  if (!ok) return builtin({ inputs, attrs: attrs ?? {}, backend: backend as object }) as TensorInfo
  const be = backend as Backend
  const outShape = x.shape.map((d, i) => d * reps[i]!)
  const out = be.makeOutput(outShape, x.dtype as 'float32')
  const dst = be.typedArrayFromHeap(out)
  const src = be.typedArrayFromHeap(x)
  const block = src.length
  const total = dst.length
  if (block === 0) return out
  dst.set(src, 0)
  let filled = block
  while (filled < total) {
    const len = Math.min(filled, total - filled)
    dst.copyWithin(filled, 0, len)
    filled += len
  }
  return out
}

/**
 * BatchMatMul / _FusedMatMul with transposeA or transposeB: wasm runs those as a scalar
 * loop (about 12x slower than its XNNPACK path at Dense-layer backward shapes), so
 * transpose explicitly and call the built-in kernel without transposes.
 */
function withoutTransposes(name: 'BatchMatMul' | '_FusedMatMul') {
  return ({ inputs, attrs, backend }: KernelArgs): TensorInfo => {
    const builtin = builtins.get(name)
    if (builtin == null) throw new Error(`wasm ${name}: the built-in kernel was not captured before registration.`)
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean }
    if (!transposeA && !transposeB) return builtin({ inputs, attrs: attrs ?? {}, backend: backend as object }) as TensorInfo
    const sc = new Scratch(backend as Backend)
    try {
      const swapLast = (t: TensorInfo) => {
        const r = t.shape.length
        const perm = t.shape.map((_, i) => i)
        perm[r - 2] = r - 1
        perm[r - 1] = r - 2
        return sc.transpose(t, perm)
      }
      const a0 = inputs.a!
      const b0 = inputs.b!
      if (name === 'BatchMatMul' && transposeB && !transposeA && size(a0.shape.slice(0, -2)) === 1 && size(b0.shape.slice(0, -2)) === 1 && size(b0.shape) > 4 * size(a0.shape)) {
        // A·Bᵀ with a large B (the Dense input gradient dy·Wᵀ): XNNPACK repacks its second
        // operand at every call, so compute (B·Aᵀ)ᵀ, where that operand is the small Aᵀ.
        const t = sc.run(name, { a: b0, b: swapLast(a0) }, { ...attrs, transposeA: false, transposeB: false })
        return sc.keep(swapLast(t))
      }
      const a = transposeA ? swapLast(a0) : a0
      const b = transposeB ? swapLast(b0) : b0
      return builtin({ inputs: { ...inputs, a, b }, attrs: { ...attrs, transposeA: false, transposeB: false }, backend: backend as object }) as TensorInfo
    } finally {
      sc.dispose()
    }
  }
}

/**
 * Sum / Mean over leading axes (bias gradients, BatchNormalization moments: reductions over
 * N, H, W) as a transpose and a matrix-vector product with a ones vector through XNNPACK. wasm's
 * own kernel transposes and reduces in scalar loops; the product the other way round (ones · x)
 * makes XNNPACK repack all of x as its weight matrix at every call (1.7 ms for [16,28,28,32]
 * inside a training step; this way ~0.4 ms). Other reductions go to the built-in kernel.
 */
function leadingReduction(name: 'Sum' | 'Mean') {
  return ({ inputs, attrs, backend }: KernelArgs): TensorInfo => {
    const builtin = builtins.get(name)
    if (builtin == null) throw new Error(`wasm ${name}: the built-in kernel was not captured before registration.`)
    const x = inputs.x!
    const { axis, keepDims } = (attrs ?? {}) as { axis: number | number[]; keepDims: boolean }
    const rank = x.shape.length
    const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)).sort((p, q) => p - q)
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i)
    const outer = size(x.shape.slice(0, axes.length))
    if (x.dtype !== 'float32' || !leading || outer < 64) return builtin({ inputs, attrs: attrs ?? {}, backend: backend as object }) as TensorInfo
    const rest = x.shape.slice(axes.length)
    const inner = size(rest)
    const outShape = keepDims ? [...axes.map(() => 1), ...rest] : rest
    const simd = inner % 4 === 0 ? simdKernels(backend as Backend)?.sumRows : null
    if (simd) {
      const be = backend as Backend
      const out = be.makeOutput(outShape, 'float32')
      const tmp = be.makeOutput([inner], 'float32')
      simd(heapAddress(be, x), heapAddress(be, out), heapAddress(be, tmp), outer, inner, name === 'Mean' ? 1 / outer : 1)
      be.disposeData(tmp.dataId)
      return out
    }
    const sc = new Scratch(backend as Backend)
    try {
      const xt = sc.transpose(sc.reshape(x, [1, outer, inner]), [0, 2, 1])
      const ones = sc.run('Fill', {}, { shape: [1, outer, 1], value: name === 'Mean' ? 1 / outer : 1, dtype: 'float32' })
      const m = sc.run('BatchMatMul', { a: xt, b: ones }, { transposeA: false, transposeB: false })
      return sc.keep(run(sc.backend, 'Reshape', { x: m }, { shape: outShape }))
    } finally {
      sc.dispose()
    }
  }
}

const size = (shape: number[]) => shape.reduce((p, q) => p * q, 1)

/**
 * MaxPoolGrad as one pass over the windows: recompute each window's first maximum (the
 * same tie rule as the cpu backend: strict '>' in row-major window order) and add dy there.
 * wasm's built-in kernel loops over every (dx, window) pair and is ~20x slower.
 */
function maxPoolGrad({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo }
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
    filterSize: [number, number] | number; strides: [number, number] | number
    pad: 'valid' | 'same' | number | ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil'
  }
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode)
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, padInfo } = info
  const be = backend as Backend
  const out = be.makeOutput([n, h, w, c], 'float32')
  // Views after makeOutput: allocation may grow (and detach) the wasm heap.
  const dx = be.typedArrayFromHeap(out)
  const xv = be.typedArrayFromHeap(input)
  const dyv = be.typedArrayFromHeap(dy)
  const rowX = w * c
  const imgX = h * rowX
  const simd = c % 4 === 0 && 2 * ho === h && 2 * wo === w ? simdKernels(be)?.maxPoolGrad2x2 : null
  if (simd && kh === 2 && kw === 2 && sh === 2 && sw === 2 && padInfo.top === 0 && padInfo.left === 0) {
    // The usual Keras pooling on NHWC with channels a multiple of 4: SIMD in wasm (maxpool-grad.wat), ~6x the loop below.
    simd(heapAddress(be, input), heapAddress(be, dy), heapAddress(be, out), n, ho, wo, c)
    return out
  }
  if (kh === 2 && kw === 2 && sh === 2 && sw === 2 && padInfo.top === 0 && padInfo.left === 0 && 2 * ho <= h && 2 * wo <= w) {
    // The common 2x2/2 pooling without padding: disjoint windows, each dx element written
    // once (rows/columns no window covers stay zero).
    if (2 * ho !== h || 2 * wo !== w) dx.fill(0)
    let o = 0
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < ho; i++) {
        let p00 = b * imgX + 2 * i * rowX
        for (let j = 0; j < wo; j++, p00 += c) {
          for (let d = 0; d < c; d++, o++, p00++) {
            const p01 = p00 + c
            const p10 = p00 + rowX
            const p11 = p10 + c
            const v00 = xv[p00]!
            const v01 = xv[p01]!
            const v10 = xv[p10]!
            const v11 = xv[p11]!
            let best = Number.NEGATIVE_INFINITY
            let at = -1
            if (v00 > best) { best = v00; at = p00; }
            if (v01 > best) { best = v01; at = p01; }
            if (v10 > best) { best = v10; at = p10; }
            if (v11 > best) { at = p11; }
            dx[p00] = 0
            dx[p01] = 0
            dx[p10] = 0
            dx[p11] = 0
            if (at >= 0) dx[at] = dyv[o]!
          }
        }
      }
    }
    return out
  }
  dx.fill(0)
  // Channels innermost (contiguous in NHWC): one running max per channel.
  const best = new Float32Array(c)
  const at = new Int32Array(c)
  let o = 0
  for (let b = 0; b < n; b++) {
    const xb = b * imgX
    for (let i = 0; i < ho; i++) {
      const r0 = i * sh - padInfo.top
      const rMin = Math.max(0, r0)
      const rMax = Math.min(h, r0 + kh)
      for (let j = 0; j < wo; j++, o += c) {
        const c0 = j * sw - padInfo.left
        const cMin = Math.max(0, c0)
        const cMax = Math.min(w, c0 + kw)
        best.fill(Number.NEGATIVE_INFINITY)
        at.fill(-1)
        for (let r = rMin; r < rMax; r++) {
          for (let q = cMin; q < cMax; q++) {
            const base = xb + r * rowX + q * c
            for (let d = 0; d < c; d++) {
              const v = xv[base + d]!
              if (v > best[d]!) {
                best[d] = v
                at[d] = base + d
              }
            }
          }
        }
        for (let d = 0; d < c; d++) {
          const p = at[d]!
          if (p >= 0) dx[p] += dyv[o + d]!
        }
      }
    }
  }
  return out
}

/**
 * Identity sharing the input's buffer (ref-counted, as Reshape does and as the cpu backend's
 * Identity does): tfjs never writes into a tensor's data, but wasm's Identity copies it, and
 * autodiff clones every tensor it saves for the backward pass through Identity (48 copies a
 * step for the Fashion CNN).
 */
function identityKernel({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const x = inputs.x!
  if (x.dtype === 'string') return builtins.get('Identity')!({ inputs, attrs: attrs ?? {}, backend: backend as object }) as TensorInfo
  ;(backend as { incRef(dataId: object): void }).incRef(x.dataId)
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
}

/**
 * ClipByValue's gradient in one pass (clip-grad.wat): dy where min <= x <= max, else 0. Every
 * ReLU6 of MobileNetV2 is a ReLU then a clip, and tfjs's gradient of the clip takes five kernels
 * (GreaterEqual, LessEqual, LogicalAnd, ZerosLike, Select): ~4 ms each at [16,14,14,384].
 */
const CLIP_GRAD = 'ClipByValueGradSimd'
function clipGradKernel({ inputs, attrs, backend }: KernelArgs): TensorInfo {
  const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo }
  const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number }
  const be = backend as Backend
  const out = be.makeOutput(x.shape, 'float32')
  simdKernels(be)!.clipGrad(heapAddress(be, x), heapAddress(be, dy), heapAddress(be, out), size(x.shape), clipValueMin, clipValueMax)
  return out
}

/** ClipByValue's gradient through clipGradKernel where the backend has it (wasm with its SIMD kernels), tfjs's otherwise. */
function registerClipGradient(): void {
  tf.registerGradient({
    kernelName: 'ClipByValue',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as tf.Tensor[]
      const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number }
      const dyT = dy as tf.Tensor
      const fast = x!.dtype === 'float32' && tf.getBackend() === 'wasm' && simdKernels(tf.backend() as unknown as Backend) != null
      return {
        x: () =>
          fast
            ? (tf.engine().runKernel(CLIP_GRAD, { dy: dyT, x: x! }, { clipValueMin, clipValueMax }) as tf.Tensor)
            : tf.where(tf.logicalAnd(tf.greaterEqual(x!, clipValueMin), tf.lessEqual(x!, clipValueMax)), dyT, tf.zerosLike(dyT)),
      }
    },
  })
}

/** The kernels this module registers on 'wasm' (and whether they replace a built-in). */
export const WASM_GRADIENT_KERNELS: ReadonlyArray<{ name: string; replaces: boolean; kernelFunc: KernelConfig['kernelFunc'] }> = [
  { name: 'Conv2DBackpropFilter', replaces: false, kernelFunc: conv2DBackpropFilter as KernelConfig['kernelFunc'] },
  { name: 'Conv2DBackpropInput', replaces: true, kernelFunc: conv2DBackpropInput as KernelConfig['kernelFunc'] },
  { name: 'DepthwiseConv2dNativeBackpropInput', replaces: false, kernelFunc: depthwiseBackpropInput as KernelConfig['kernelFunc'] },
  { name: 'DepthwiseConv2dNativeBackpropFilter', replaces: false, kernelFunc: depthwiseBackpropFilter as KernelConfig['kernelFunc'] },
  { name: 'Tile', replaces: true, kernelFunc: tileKernel as KernelConfig['kernelFunc'] },
  { name: 'Identity', replaces: true, kernelFunc: identityKernel as KernelConfig['kernelFunc'] },
  { name: CLIP_GRAD, replaces: false, kernelFunc: clipGradKernel as KernelConfig['kernelFunc'] },
  { name: 'MaxPoolGrad', replaces: true, kernelFunc: maxPoolGrad as KernelConfig['kernelFunc'] },
  { name: 'BatchMatMul', replaces: true, kernelFunc: withoutTransposes('BatchMatMul') as KernelConfig['kernelFunc'] },
  { name: 'Sum', replaces: true, kernelFunc: leadingReduction('Sum') as KernelConfig['kernelFunc'] },
  { name: 'Mean', replaces: true, kernelFunc: leadingReduction('Mean') as KernelConfig['kernelFunc'] },
  { name: '_FusedMatMul', replaces: true, kernelFunc: withoutTransposes('_FusedMatMul') as KernelConfig['kernelFunc'] },
]

let registered: string[] | null = null

/**
 * The wasm backend's own kernel function for a name this module replaced (for benchmarks
 * and tests), or undefined when wasm had none.
 */
export function builtinWasmKernel(name: string): KernelConfig['kernelFunc'] | undefined {
  return builtins.get(name) ?? (registered ? undefined : tf.getKernel(name, 'wasm')?.kernelFunc)
}

/**
 * Registers the gradient kernels on the 'wasm' backend. Idempotent. Must run after
 * '@tensorflow/tfjs-backend-wasm' has been imported (it registers the kernels these
 * compose). Returns the kernel names that were (or already had been) registered.
 */
export function registerWasmGradientKernels(): string[] {
  if (registered) return registered
  if (tf.getKernel('Conv2D', 'wasm') == null) {
    throw new Error("registerWasmGradientKernels: the wasm backend's kernels are not registered. Import '@tensorflow/tfjs-backend-wasm' first.")
  }
  for (const k of WASM_GRADIENT_KERNELS) {
    const existing = tf.getKernel(k.name, 'wasm')
    if (existing != null) {
      builtins.set(k.name, existing.kernelFunc)
      tf.unregisterKernel(k.name, 'wasm')
    }
    // Keep the built-in's setupFunc: it binds the wasm export the built-in kernelFunc
    // (which some of ours call) needs, when the backend initialises.
    tf.registerKernel({
      kernelName: k.name, backendName: 'wasm', kernelFunc: k.kernelFunc,
      ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}),
      ...(existing?.disposeFunc ? { disposeFunc: existing.disposeFunc } : {}),
    })
  }
  registerClipGradient()
  registered = WASM_GRADIENT_KERNELS.map((k) => k.name)
  return registered
}
