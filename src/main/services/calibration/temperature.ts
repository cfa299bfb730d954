/**
 * Temperature scaling (Guo et al. 2017): probabilities softmax(z / T) from the logits z. The app
 * keeps probabilities, not logits; log p = z - logsumexp(z) differs from z by a constant per row,
 * which softmax ignores, so softmax(log p / T) = softmax(z / T).
 */

/** Smallest probability taken to the log: float32 softmax outputs can underflow to 0. */
const TINY = 1e-45

/** n*k probabilities with temperature T applied (float64 math, float32 out). */
export function applyTemperature(probs: ArrayLike<number>, k: number, temperature: number): Float32Array {
  const out = new Float32Array(probs.length)
  const row = new Float64Array(k)
  for (let r = 0; r * k < probs.length; r++) {
    let max = -Infinity
    for (let j = 0; j < k; j++) {
      row[j] = Math.log(Math.max(TINY, probs[r * k + j])) / temperature
      if (row[j] > max) max = row[j]
    }
    let sum = 0
    for (let j = 0; j < k; j++) sum += (row[j] = Math.exp(row[j] - max))
    for (let j = 0; j < k; j++) out[r * k + j] = row[j] / sum
  }
  return out
}

/** Mean negative log-likelihood of the labels under softmax(logits / T). */
export function temperatureNll(logits: ArrayLike<number>, k: number, labels: ArrayLike<number>, temperature: number): number {
  let total = 0
  for (let r = 0; r < labels.length; r++) {
    let max = -Infinity
    for (let j = 0; j < k; j++) max = Math.max(max, logits[r * k + j] / temperature)
    let sum = 0
    for (let j = 0; j < k; j++) sum += Math.exp(logits[r * k + j] / temperature - max)
    total += max + Math.log(sum) - logits[r * k + labels[r]] / temperature
  }
  return labels.length ? total / labels.length : 0
}

/** log p of n*k probabilities: logits up to a per-row constant. */
export function logitsOf(probs: ArrayLike<number>): Float64Array {
  return Float64Array.from(probs as ArrayLike<number>, (p) => Math.log(Math.max(TINY, p)))
}

const LOG_T_RANGE: [number, number] = [Math.log(0.05), Math.log(20)]
const GOLDEN = (Math.sqrt(5) - 1) / 2

/**
 * The T in [0.05, 20] minimising the mean NLL: golden-section search on log T (the NLL is convex
 * in 1/T, so it has one minimum on the range), to 1e-6 in log T. Deterministic.
 */
export function fitTemperature(logits: ArrayLike<number>, k: number, labels: ArrayLike<number>): number {
  if (!labels.length) return 1
  const f = (logT: number) => temperatureNll(logits, k, labels, Math.exp(logT))
  let [a, b] = LOG_T_RANGE
  let c = b - GOLDEN * (b - a)
  let d = a + GOLDEN * (b - a)
  let fc = f(c)
  let fd = f(d)
  while (b - a > 1e-6) {
    if (fc < fd) {
      b = d
      d = c
      fd = fc
      c = b - GOLDEN * (b - a)
      fc = f(c)
    } else {
      a = c
      c = d
      fc = fd
      d = a + GOLDEN * (b - a)
      fd = f(d)
    }
  }
  return Math.exp((a + b) / 2)
}
