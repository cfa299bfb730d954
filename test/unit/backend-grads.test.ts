/**
 * The wasm gradient kernels (src/main/ml/backend/wasm-grads.ts) against
 *  (1) the cpu backend's kernels of the same name, and
 *  (2) finite differences of a float64 reference convolution written here,
 * on random shapes covering stride 1/2, padding same/valid, batch > 1, channels > 1.
 * Error measure: max |a - b| / max |b| over the whole gradient tensor.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend, WASM_GRADIENT_KERNELS } from '../../src/main/ml/backend';
import { mulberry32 as rng } from '../../src/main/ml/training/rng';

const TOL = 1e-4;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const randArray = (r: () => number, n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

type Pad = 'same' | 'valid';
interface ConvCase {
  n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number;
  sh: number; sw: number; pad: Pad; mult: number; dil: number;
}

/** Runs one kernel on a backend and returns its output values. */
async function runOn(backend: 'cpu' | 'wasm', kernel: string, inputs: Record<string, { v: Float32Array; s: number[] }>, attrs: Record<string, unknown>): Promise<{ v: Float32Array; s: number[] }> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const ins: Record<string, tf.Tensor> = {};
  for (const [k, { v, s }] of Object.entries(inputs)) ins[k] = tf.tensor(v, s, 'float32');
  const out = tf.engine().runKernel(kernel, ins as unknown as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const res = { v: (await out.data()) as Float32Array, s: out.shape };
  tf.dispose([out, ...Object.values(ins)]);
  expect(tf.memory().numTensors).toBe(before);
  return res;
}

function padInfo(inSize: number, k: number, s: number, pad: Pad): { out: number; before: number } {
  if (pad === 'valid') return { out: Math.ceil((inSize - k + 1) / s), before: 0 };
  const out = Math.ceil(inSize / s);
  const total = Math.max(0, (out - 1) * s + k - inSize);
  return { out, before: Math.floor(total / 2) };
}

/** float64 reference forward: conv2d (depthwise when dw) of x [n,h,w,ci] with f. */
function refConv(c: ConvCase, x: Float64Array | Float32Array, f: Float64Array | Float32Array, depthwise: boolean): { y: Float64Array; ho: number; wo: number; cout: number } {
  const khE = (c.kh - 1) * c.dil + 1;
  const kwE = (c.kw - 1) * c.dil + 1;
  const ph = padInfo(c.h, khE, c.sh, c.pad);
  const pw = padInfo(c.w, kwE, c.sw, c.pad);
  const cout = depthwise ? c.ci * c.mult : c.co;
  const y = new Float64Array(c.n * ph.out * pw.out * cout);
  for (let b = 0; b < c.n; b++) for (let i = 0; i < ph.out; i++) for (let j = 0; j < pw.out; j++) {
    for (let a = 0; a < c.kh; a++) for (let bb = 0; bb < c.kw; bb++) {
      const yy = i * c.sh + a * c.dil - ph.before;
      const xx = j * c.sw + bb * c.dil - pw.before;
      if (yy < 0 || yy >= c.h || xx < 0 || xx >= c.w) continue;
      for (let ci = 0; ci < c.ci; ci++) {
        const xv = x[((b * c.h + yy) * c.w + xx) * c.ci + ci]!;
        if (depthwise) {
          for (let m = 0; m < c.mult; m++) {
            y[((b * ph.out + i) * pw.out + j) * cout + ci * c.mult + m] += xv * f[((a * c.kw + bb) * c.ci + ci) * c.mult + m]!;
          }
        } else {
          for (let co = 0; co < c.co; co++) {
            y[((b * ph.out + i) * pw.out + j) * cout + co] += xv * f[((a * c.kw + bb) * c.ci + ci) * c.co + co]!;
          }
        }
      }
    }
  }
  return { y, ho: ph.out, wo: pw.out, cout };
}

/** Central finite differences of L = sum(conv(x, f) * dy) w.r.t. x or f, in float64. */
function finiteDiff(c: ConvCase, x: Float32Array, f: Float32Array, dy: Float32Array, wrt: 'x' | 'f', depthwise: boolean): Float64Array {
  const x64 = Float64Array.from(x);
  const f64 = Float64Array.from(f);
  const target = wrt === 'x' ? x64 : f64;
  const g = new Float64Array(target.length);
  const eps = 1e-3;
  const loss = () => {
    const { y } = refConv(c, x64, f64, depthwise);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * dy[i]!;
    return s;
  };
  for (let i = 0; i < target.length; i++) {
    const v = target[i]!;
    target[i] = v + eps;
    const lp = loss();
    target[i] = v - eps;
    const lm = loss();
    target[i] = v;
    g[i] = (lp - lm) / (2 * eps);
  }
  return g;
}

function randomCase(r: () => number, depthwise: boolean, small: boolean): ConvCase {
  const k = pick(r, small ? [1, 2, 3] : [1, 2, 3, 5]);
  const c: ConvCase = {
    n: pick(r, small ? [1, 2] : [1, 2, 3]),
    h: 4 + Math.floor(r() * (small ? 4 : 9)),
    w: 4 + Math.floor(r() * (small ? 4 : 9)),
    ci: pick(r, small ? [1, 2] : [1, 2, 3, 5]),
    co: pick(r, small ? [1, 3] : [1, 2, 4, 7]),
    kh: k,
    kw: r() < 0.25 ? pick(r, [1, 2, 3]) : k,
    sh: pick(r, [1, 2]),
    sw: 1,
    pad: pick(r, ['same', 'valid'] as const),
    mult: depthwise ? pick(r, [1, 2]) : 1,
    dil: 1,
  };
  c.sw = r() < 0.8 ? c.sh : pick(r, [1, 2]);
  return c;
}

/** Cases always included, then random ones. */
function cases(depthwise: boolean, small: boolean, count: number, seed: number): ConvCase[] {
  const fixed: ConvCase[] = [];
  for (const sh of [1, 2]) for (const pad of ['same', 'valid'] as const) {
    fixed.push({ n: 2, h: small ? 6 : 9, w: small ? 5 : 8, ci: 2, co: 3, kh: 3, kw: 3, sh, sw: sh, pad, mult: depthwise ? 2 : 1, dil: 1 });
    // First-layer shapes (grayscale / RGB, output channels a multiple of 4: the SIMD filter gradient).
    if (!depthwise) fixed.push({ n: 2, h: 7, w: 6, ci: sh === 1 ? 1 : 3, co: 8, kh: 3, kw: 3, sh, sw: sh, pad, mult: 1, dil: 1 });
    // MobileNet's depthwise shape (multiplier 1, channels a multiple of 4: the SIMD filter gradient).
    else fixed.push({ n: 2, h: 7, w: 6, ci: sh === 1 ? 4 : 8, co: 1, kh: 3, kw: 3, sh, sw: sh, pad, mult: 1, dil: 1 });
  }
  const r = rng(seed);
  const out = [...fixed];
  while (out.length < fixed.length + count) {
    const c = randomCase(r, depthwise, small);
    const khE = (c.kh - 1) * c.dil + 1;
    const kwE = (c.kw - 1) * c.dil + 1;
    if (c.pad === 'valid' && (c.h < khE || c.w < kwE)) continue;
    out.push(c);
  }
  return out;
}

const label = (c: ConvCase) => `n${c.n} ${c.h}x${c.w}x${c.ci} k${c.kh}x${c.kw} s${c.sh}${c.sw} ${c.pad} co${c.co} m${c.mult}`;

describe('wasm gradient kernels', () => {
  beforeAll(async () => {
    const info = await initBackend('wasm');
    expect(info.name).toBe('wasm');
  });

  it('registers every kernel a conv/depthwise training step needs', () => {
    for (const k of WASM_GRADIENT_KERNELS) expect(tf.getKernel(k.name, 'wasm'), k.name).toBeDefined();
  });

  for (const depthwise of [false, true]) {
    const filterKernel = depthwise ? 'DepthwiseConv2dNativeBackpropFilter' : 'Conv2DBackpropFilter';
    const inputKernel = depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput';

    it(`${filterKernel} and ${inputKernel} match the cpu backend on random shapes`, async () => {
      let worst = 0;
      for (const c of cases(depthwise, false, 24, depthwise ? 11 : 7)) {
        const r = rng(c.h * 131 + c.w * 17 + c.ci);
        const fShape = depthwise ? [c.kh, c.kw, c.ci, c.mult] : [c.kh, c.kw, c.ci, c.co];
        const x = randArray(r, c.n * c.h * c.w * c.ci);
        const f = randArray(r, size(fShape));
        const { ho, wo, cout } = refConv(c, x, f, depthwise);
        const dyShape = [c.n, ho, wo, cout];
        const dy = randArray(r, size(dyShape));
        const common = depthwise
          ? { strides: [c.sh, c.sw], dilations: [c.dil, c.dil], pad: c.pad }
          : { strides: [c.sh, c.sw], pad: c.pad, dataFormat: 'NHWC' };
        const fa = { ...common, filterShape: fShape };
        const ia = { ...common, inputShape: [c.n, c.h, c.w, c.ci] };
        const fIn = { x: { v: x, s: [c.n, c.h, c.w, c.ci] }, dy: { v: dy, s: dyShape } };
        const iIn = { dy: { v: dy, s: dyShape }, filter: { v: f, s: fShape } };
        const [fc, fw, ic, iw] = [
          await runOn('cpu', filterKernel, fIn, fa), await runOn('wasm', filterKernel, fIn, fa),
          await runOn('cpu', inputKernel, iIn, ia), await runOn('wasm', inputKernel, iIn, ia),
        ];
        expect(fw.s, label(c)).toEqual(fShape);
        expect(iw.s, label(c)).toEqual([c.n, c.h, c.w, c.ci]);
        const ef = relErr(fw.v, fc.v);
        const ei = relErr(iw.v, ic.v);
        expect(ef, `${filterKernel} ${label(c)}`).toBeLessThanOrEqual(TOL);
        expect(ei, `${inputKernel} ${label(c)}`).toBeLessThanOrEqual(TOL);
        worst = Math.max(worst, ef, ei);
      }
      expect(worst).toBeLessThanOrEqual(TOL);
    });

    it(`${filterKernel} and ${inputKernel} match float64 finite differences`, async () => {
      for (const c of cases(depthwise, true, 8, depthwise ? 5 : 3)) {
        const r = rng(c.h * 7 + c.w * 3 + c.co);
        const fShape = depthwise ? [c.kh, c.kw, c.ci, c.mult] : [c.kh, c.kw, c.ci, c.co];
        const x = randArray(r, c.n * c.h * c.w * c.ci);
        const f = randArray(r, size(fShape));
        const { ho, wo, cout } = refConv(c, x, f, depthwise);
        const dyShape = [c.n, ho, wo, cout];
        const dy = randArray(r, size(dyShape));
        const common = depthwise
          ? { strides: [c.sh, c.sw], dilations: [1, 1], pad: c.pad }
          : { strides: [c.sh, c.sw], pad: c.pad, dataFormat: 'NHWC' };
        const fw = await runOn('wasm', filterKernel, { x: { v: x, s: [c.n, c.h, c.w, c.ci] }, dy: { v: dy, s: dyShape } }, { ...common, filterShape: fShape });
        const iw = await runOn('wasm', inputKernel, { dy: { v: dy, s: dyShape }, filter: { v: f, s: fShape } }, { ...common, inputShape: [c.n, c.h, c.w, c.ci] });
        expect(relErr(fw.v, finiteDiff(c, x, f, dy, 'f', depthwise)), `${filterKernel} ${label(c)}`).toBeLessThanOrEqual(TOL);
        expect(relErr(iw.v, finiteDiff(c, x, f, dy, 'x', depthwise)), `${inputKernel} ${label(c)}`).toBeLessThanOrEqual(TOL);
      }
    });
  }

  it('MaxPoolGrad matches the cpu backend, ties included (first maximum wins)', async () => {
    const r = rng(99);
    for (let k = 0; k < 48; k++) {
      const n = pick(r, [1, 2, 3]);
      const h = 3 + Math.floor(r() * 8);
      const w = 3 + Math.floor(r() * 8);
      // 4 and 8 channels take the SIMD kernel (2x2 stride 2 on even sizes), the others the JS loops.
      const c = pick(r, [1, 2, 4, 5, 8]);
      const f = pick(r, [2, 3]);
      const s = pick(r, [1, 2]);
      const pad = pick(r, ['same', 'valid'] as const);
      if (pad === 'valid' && (h < f || w < f)) continue;
      // Coarse values (and ReLU zeros) make ties common.
      const x = Float32Array.from({ length: n * h * w * c }, () => Math.max(0, Math.round(r() * 6 - 2)));
      await tf.setBackend('cpu');
      const yShape = tf.tidy(() => tf.maxPool(tf.tensor4d(x, [n, h, w, c]), f, s, pad).shape);
      const dy = randArray(r, size(yShape));
      const attrs = { filterSize: [f, f], strides: [s, s], pad };
      const ins = { dy: { v: dy, s: yShape }, input: { v: x, s: [n, h, w, c] }, output: { v: new Float32Array(size(yShape)), s: yShape } };
      const cpu = await runOn('cpu', 'MaxPoolGrad', ins, attrs);
      const wasm = await runOn('wasm', 'MaxPoolGrad', ins, attrs);
      expect(relErr(wasm.v, cpu.v), `n${n} ${h}x${w}x${c} f${f} s${s} ${pad}`).toBeLessThanOrEqual(TOL);
    }
  });

  it('Sum and Mean over leading axes, Tile and transposed BatchMatMul match the cpu backend', async () => {
    const r = rng(5);
    for (const [shape, axis, keepDims] of [
      [[4, 9, 7, 13], [0, 1, 2], false], [[300, 5], [0], true], [[6, 50, 3], [1, 0], false], [[8, 9, 10], [2], false], [[7, 3], [0, 1], false],
      // Inner sizes a multiple of 4: the SIMD kernel (blocks of 64 rows; 5,000 rows: a partial last block).
      [[70, 8], [0], false], [[3, 40, 12], [0, 1], true], [[5000, 4], [0], false],
    ] as const) {
      const x = { v: randArray(r, size([...shape])), s: [...shape] };
      for (const op of ['Sum', 'Mean']) {
        const cpu = await runOn('cpu', op, { x }, { axis: [...axis], keepDims });
        const wasm = await runOn('wasm', op, { x }, { axis: [...axis], keepDims });
        expect(wasm.s).toEqual(cpu.s);
        expect(relErr(wasm.v, cpu.v), `${op} ${shape} ${axis}`).toBeLessThanOrEqual(TOL);
      }
    }
    for (const [shape, reps] of [[[1, 1, 1, 7], [3, 4, 5, 1]], [[1, 6], [9, 1]], [[2, 3], [2, 2]], [[1, 3, 1], [2, 1, 4]]] as const) {
      const x = { v: randArray(r, size([...shape])), s: [...shape] };
      const cpu = await runOn('cpu', 'Tile', { x }, { reps: [...reps] });
      const wasm = await runOn('wasm', 'Tile', { x }, { reps: [...reps] });
      expect(wasm.s).toEqual(cpu.s);
      expect(relErr(wasm.v, cpu.v), `Tile ${shape} ${reps}`).toBe(0);
    }
    for (const [ta, tb] of [[true, false], [false, true], [true, true], [false, false]] as const) {
      const [m, k, nn, batch] = [37, 53, 11, 3];
      const a = { v: randArray(r, batch * m * k), s: ta ? [batch, k, m] : [batch, m, k] };
      const b = { v: randArray(r, batch * k * nn), s: tb ? [batch, nn, k] : [batch, k, nn] };
      const cpu = await runOn('cpu', 'BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
      const wasm = await runOn('wasm', 'BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
      expect(wasm.s).toEqual([batch, m, nn]);
      expect(relErr(wasm.v, cpu.v), `BatchMatMul ${ta} ${tb}`).toBeLessThanOrEqual(TOL);
    }
    // A·Bᵀ with B much larger than A (the Dense input gradient, computed as (B·Aᵀ)ᵀ), rank 2 and 3.
    for (const lead of [[], [1]]) {
      const a = { v: randArray(r, 6 * 40), s: [...lead, 6, 40] };
      const b = { v: randArray(r, 300 * 40), s: [...lead, 300, 40] };
      const cpu = await runOn('cpu', 'BatchMatMul', { a, b }, { transposeA: false, transposeB: true });
      const wasm = await runOn('wasm', 'BatchMatMul', { a, b }, { transposeA: false, transposeB: true });
      expect(wasm.s).toEqual([...lead, 6, 300]);
      expect(relErr(wasm.v, cpu.v), `BatchMatMul large B, rank ${lead.length + 2}`).toBeLessThanOrEqual(TOL);
    }
  });

  it('Identity (autodiff saves tensors through it) shares the buffer without copying, and frees it with the last reference', async () => {
    await tf.setBackend('wasm');
    const be = tf.backend() as unknown as { numDataIds(): number };
    const ids = be.numDataIds();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    expect(be.numDataIds()).toBe(ids + 1);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3]);
    y.dispose();
    expect(be.numDataIds()).toBe(ids);
  });

  it("ClipByValue's gradient (ReLU6) runs as one SIMD kernel on wasm and equals tfjs's on cpu, bounds, NaN and odd sizes included", async () => {
    const r = rng(17);
    for (const n of [1, 7, 64, 1001]) {
      const x = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? [0, 6, NaN, -0.5, 6.5][(i / 5) % 5]! : r() * 9 - 1.5));
      const w = randArray(r, n);
      const grad = async (backend: 'cpu' | 'wasm') => {
        await tf.setBackend(backend);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(t, 0, 6), tf.tensor1d(w))))(tf.tensor1d(x));
        const v = (await g.data()) as Float32Array;
        g.dispose();
        return v;
      };
      const cpu = await grad('cpu');
      const wasm = await grad('wasm');
      expect(Array.from(wasm), `n ${n}`).toEqual(Array.from(cpu));
    }
    await tf.setBackend('wasm');
    const t = tf.tensor1d([1, 2, 7]);
    const p = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(tf.clipByValue(v, 0, 6)))(t));
    expect(p.kernels.map((k) => k.name)).toContain('ClipByValueGradSimd');
    expect(p.kernels.map((k) => k.name)).not.toContain('LogicalAnd');
  });
});
