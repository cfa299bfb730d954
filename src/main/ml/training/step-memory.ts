/**
 * One shared wasm memory for data-parallel training: the step's weights, each thread's
 * gradients and the optimizer's state, as Float32Array views. The threads read and write their
 * regions through its SharedArrayBuffer; the optimizer's SIMD kernel (optimizer-step.wat) works
 * on the same bytes in place, each view's byteOffset being its address.
 */
import { OPTIMIZER_STEP_WASM } from './optimizer-step-wasm'

// Node's WebAssembly global (its types come with the DOM lib, which the main process does not load).
interface WasmMemory {
  buffer: ArrayBuffer | SharedArrayBuffer
}
const WA = (globalThis as unknown as {
  WebAssembly: {
    Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory
    Module: new (bytes: Uint8Array) => object
    Instance: new (m: object, imports: object) => { exports: Record<string, unknown> }
  }
}).WebAssembly

/** Addresses are byte offsets in the memory; n counts floats. */
export interface OptimizerKernels {
  combine(dst: number, a: number, b: number, n: number, sa: number, sb: number): void
  adam(w: number, g0: number, g1: number, m: number, v: number, n: number, s0: number, s1: number, b1: number, b2: number, c1: number, c2: number, k: number, e: number): void
  rmsprop(w: number, g0: number, g1: number, ms: number, mom: number, n: number, s0: number, s1: number, rho: number, crho: number, mu: number, lr: number, eps: number): void
  sgd(w: number, g0: number, g1: number, n: number, s0: number, s1: number, lr: number): void
}

/** 4 GiB: wasm32's limit. */
const MAX_PAGES = 65536

let module: object | null = null

export class StepMemory {
  readonly buffer: SharedArrayBuffer
  readonly kernels: OptimizerKernels
  private used = 0

  /** Room for `floats` floats in views of up to `views` (each aligned to 16 bytes). */
  constructor(floats: number, views: number) {
    const pages = Math.max(1, Math.ceil((floats * 4 + views * 16) / 65536))
    if (pages > MAX_PAGES)
      throw new Error(`the weights, the threads' gradients and the optimizer's state need ${((pages * 65536) / 2 ** 30).toFixed(1)} GiB, more than the 4 GiB one wasm memory holds (fewer threads need less)`)
    const memory = new WA.Memory({ initial: pages, maximum: pages, shared: true })
    this.buffer = memory.buffer as SharedArrayBuffer
    module ??= new WA.Module(Buffer.from(OPTIMIZER_STEP_WASM, 'base64'))
    this.kernels = new WA.Instance(module, { env: { memory } }).exports as unknown as OptimizerKernels
  }

  /** A zeroed view of n floats. */
  alloc(n: number): Float32Array {
    const at = this.used
    this.used = Math.ceil((at + n * 4) / 16) * 16
    if (this.used > this.buffer.byteLength) throw new Error(`step memory of ${this.buffer.byteLength} bytes cannot hold ${this.used}`)
    return new Float32Array(this.buffer, at, n)
  }
}
