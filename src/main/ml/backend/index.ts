/**
 * Picks the fastest TF.js backend present and says which one and why.
 *
 * Order for 'auto': tensorflow-gpu (@tensorflow/tfjs-node-gpu, CUDA), tensorflow
 * (@tensorflow/tfjs-node, native CPU), wasm (XNNPACK + SIMD, with our gradient kernels so
 * it can train), cpu (plain JS, ~1000x slower for CNN training: last resort).
 * The native packages are optionalDependencies: absent where libtensorflow cannot be
 * downloaded; the reason says why each one was skipped.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { registerWasmGradientKernels } from './wasm-grads';

export { registerWasmGradientKernels, WASM_GRADIENT_KERNELS, builtinWasmKernel } from './wasm-grads';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendPreference = 'auto' | BackendName;

export interface BackendInfo {
  /** Our name for the engine in use. */
  name: BackendName;
  /** TF.js's own backend name ('tensorflow', 'wasm', 'cpu'). */
  tfBackend: string;
  /** Why this one: which faster ones were skipped and why. */
  reason: string;
  /** Compute threads the backend uses (the wasm build runs one thread under Node). */
  threads: number;
  /** Whether training (gradients of conv/pool layers) is supported on this backend. */
  canTrain: boolean;
}

const BACKEND_NAMES: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;
let pendingPrefer: BackendPreference | null = null;

/** Folder holding the wasm binaries, resolved from the installed package. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
}

async function tryNative(pkg: string): Promise<string | null> {
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional package.
    const spec: string = pkg;
    await import(/* @vite-ignore */ spec);
    if (tf.findBackend('tensorflow') == null) return `${pkg} loaded but registered no 'tensorflow' backend`;
    const ok = await tf.setBackend('tensorflow');
    return ok ? null : `${pkg}: tf.setBackend('tensorflow') failed`;
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    const code = (e as { code?: string })?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)/.test(msg)) {
      return `${pkg} is not installed (it is an optional dependency; its install downloads libtensorflow)`;
    }
    return `${pkg} failed to load: ${msg.split('\n')[0]}`;
  }
}

let wasmImported = false;
async function tryWasm(): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmImported) {
      wasm.setWasmPaths(wasmBinaryDir());
      wasmImported = true;
    }
    registerWasmGradientKernels();
    const ok = await tf.setBackend('wasm');
    return ok ? null : "tf.setBackend('wasm') failed";
  } catch (e) {
    return `@tensorflow/tfjs-backend-wasm failed to initialise: ${(e as Error)?.message ?? String(e)}`;
  }
}

function wasmThreads(): number {
  try {
    const b = tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } };
    return b.wasm?.tfjs?.getThreadsCount?.() ?? 1;
  } catch {
    return 1;
  }
}

async function select(prefer: BackendPreference): Promise<BackendInfo> {
  if (prefer !== 'auto' && !BACKEND_NAMES.includes(prefer)) {
    throw new Error(`initBackend: unknown backend '${String(prefer)}'. Expected one of: auto, ${BACKEND_NAMES.join(', ')}.`);
  }
  const order: BackendName[] = prefer === 'auto' ? [...BACKEND_NAMES] : [prefer];
  const skipped: string[] = [];
  for (const name of order) {
    let why: string | null;
    if (name === 'tensorflow-gpu') why = await tryNative('@tensorflow/tfjs-node-gpu');
    else if (name === 'tensorflow') why = await tryNative('@tensorflow/tfjs-node');
    else if (name === 'wasm') why = await tryWasm();
    else why = (await tf.setBackend('cpu')) ? null : "tf.setBackend('cpu') failed";
    if (why == null) {
      await tf.ready();
      const threads = name === 'wasm' ? wasmThreads() : name === 'cpu' ? 1 : 0;
      const reason = prefer === 'auto'
        ? (skipped.length ? `${skipped.join('; ')}; using ${name}` : `${name} is the fastest backend available`)
        : `${name} was requested`;
      return { name, tfBackend: tf.getBackend(), reason, threads, canTrain: true };
    }
    skipped.push(why);
  }
  throw new Error(`initBackend: no TF.js backend could be started (${skipped.join('; ')}). ` +
    (prefer === 'auto' ? 'Reinstall the app (npm ci) to restore @tensorflow/tfjs-backend-wasm.' : "Try prefer: 'auto'."));
}

/**
 * Selects and initialises a backend. Idempotent: a second call with the same preference
 * (or 'auto') returns the first result; a call with a different explicit preference
 * switches backends. Concurrent calls share one initialisation.
 */
export async function initBackend(prefer: BackendPreference = 'auto'): Promise<BackendInfo> {
  if (current && (prefer === 'auto' || prefer === current.name) && tf.getBackend() === current.tfBackend) return current;
  if (pending && (prefer === 'auto' || prefer === pendingPrefer)) return pending;
  pendingPrefer = prefer;
  const p = select(prefer);
  pending = p;
  try {
    current = await p;
    return current;
  } finally {
    if (pending === p) {
      pending = null;
      pendingPrefer = null;
    }
  }
}

/** The backend chosen by initBackend, or null before it ran. */
export function describeBackend(): BackendInfo | null {
  return current;
}

export { createFeatureExtractor } from './feature-extractor';
export type { FeatureExtractor, FeatureExtractorInfo, FeatureExtractorOptions, FeatureEngine } from './feature-extractor';
