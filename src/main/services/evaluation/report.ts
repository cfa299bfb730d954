/**
 * A port of scikit-learn 1.2's `classification_report` (sklearn/metrics/_classification.py:
 * precision_recall_fscore_support, _prf_divide, _warn_prf, classification_report) for
 * single-label multiclass/binary targets given as class indices.
 *
 * Numerics follow numpy exactly: per-class ratios are IEEE divisions of integer counts,
 * F1 = (2*p)*r/(p+r), averages use numpy's pairwise summation (np.mean / np.average), so
 * the numbers are bit-identical to sklearn's in practice (tests allow 1e-12). The text table
 * reproduces Python's str.format: right-aligned by code points, `{:.Nf}` with exact
 * round-half-even on the binary value.
 *
 * Pure TypeScript (no node:), usable anywhere.
 */
import type { ClassificationReport, ReportRow, ZeroDivision, ReportLabels } from '../../../shared/evaluation'

export interface ClassificationReportOptions {
  digits?: number
  zeroDivision?: ZeroDivision
  labels?: ReportLabels
}

/** numpy's pairwise summation (umath loops, PW_BLOCKSIZE 128), bit-identical to np.sum for float64. */
export function numpySum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0
    for (let i = 0; i < n; i++) res += a[start + i]
    return res
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0]
    for (let j = 0; j < 8; j++) r[j] = a[start + j]
    let i = 8
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[start + i + j]
    }
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]))
    for (; i < n; i++) res += a[start + i]
    return res
  }
  let n2 = Math.floor(n / 2)
  n2 -= n2 % 8
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2)
}

const WARN_TAIL = ' Use `zero_division` parameter to control this behavior.'

/** sklearn's _warn_prf message for average != 'samples'. */
function prfWarning(msgStart: string, modifier: string, resultSize: number): string {
  const where = resultSize === 1 ? 'due to' : 'in labels with'
  return `${msgStart} ill-defined and being set to 0.0 ${where} no ${modifier} samples.${WARN_TAIL}`
}

/** sklearn's _prf_divide (warn_for = precision, recall, f-score). */
function prfDivide(
  num: number[],
  den: number[],
  metric: 'precision' | 'recall',
  modifier: string,
  zeroDivision: ZeroDivision,
  warnings: string[],
): number[] {
  const zv = zeroDivision === 1 ? 1 : 0
  let any = false
  const out = num.map((n, i) => {
    if (den[i] === 0) {
      any = true
      return zv
    }
    return n / den[i]
  })
  if (any && zeroDivision === 'warn') {
    const start = metric === 'precision' ? 'Precision and F-score are' : 'Recall and F-score are'
    warnings.push(prfWarning(start, modifier, out.length))
  }
  return out
}

function fScore(p: number[], r: number[]): number[] {
  return p.map((pi, i) => {
    let denom = 1 * pi + r[i]
    if (denom === 0) denom = 1
    return (2 * pi * r[i]) / denom
  })
}

interface Prf {
  precision: number[]
  recall: number[]
  f: number[]
}

function prfFromSums(tp: number[], pred: number[], tru: number[], zd: ZeroDivision, warnings: string[]): Prf {
  const precision = prfDivide(tp, pred, 'precision', 'predicted', zd, warnings)
  const recall = prfDivide(tp, tru, 'recall', 'true', zd, warnings)
  return { precision, recall, f: fScore(precision, recall) }
}

function checkInputs(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly string[]): void {
  if (yTrue.length !== yPred.length) {
    throw new Error(
      `classificationReport: yTrue has ${yTrue.length} entries but yPred has ${yPred.length}; ` +
        'pass one prediction per sample.',
    )
  }
  if (labels.length === 0) throw new Error('classificationReport: labels is empty; pass the project\'s class names.')
  const seen = new Set<string>()
  for (const l of labels) {
    if (seen.has(l)) throw new Error(`classificationReport: label "${l}" appears twice; class names must be unique.`)
    seen.add(l)
  }
  const k = labels.length
  for (const [name, y] of [['yTrue', yTrue], ['yPred', yPred]] as const) {
    for (let i = 0; i < y.length; i++) {
      const v = y[i]
      if (!Number.isInteger(v) || v < 0 || v >= k) {
        throw new Error(
          `classificationReport: ${name}[${i}] = ${v} is not a class index in [0, ${k - 1}] ` +
            `(there are ${k} labels); pass class indices, not names or probabilities.`,
        )
      }
    }
  }
}

interface ClassCounts {
  tp: number[]
  pred: number[]
  tru: number[]
}

/** Checks `digits` and `zeroDivision`, returning them with their defaults filled in. */
function reportOptions(opts: ClassificationReportOptions): { digits: number; zd: ZeroDivision } {
  const digits = opts.digits ?? 2
  const zd: ZeroDivision = opts.zeroDivision ?? 'warn'
  if (!Number.isInteger(digits) || digits < 0) {
    throw new Error(`classificationReport: digits must be a non-negative integer, got ${digits}.`)
  }
  if (zd !== 'warn' && zd !== 0 && zd !== 1) {
    throw new Error(`classificationReport: zeroDivision must be 'warn', 0 or 1, got ${String(zd)}.`)
  }
  return { digits, zd }
}

/** Per-class true positives, predicted counts and true counts over all K classes. */
function countClasses(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, k: number): ClassCounts {
  const tp = new Array<number>(k).fill(0)
  const pred = new Array<number>(k).fill(0)
  const tru = new Array<number>(k).fill(0)
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]
    const p = yPred[i]
    tru[t]++
    pred[p]++
    if (t === p) tp[t]++
  }
  return { tp, pred, tru }
}

/** average='micro' (integer sums are exact). */
function microAverage(c: ClassCounts, supportSum: number, zd: ZeroDivision, warnings: string[]): ReportRow {
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0)
  const micro = prfFromSums([sum(c.tp)], [sum(c.pred)], [sum(c.tru)], zd, warnings)
  return { precision: micro.precision[0], recall: micro.recall[0], f1: micro.f[0], support: supportSum }
}

/** average='macro': np.average(x) = np.sum(x) / len(x). */
function macroAverage(c: ClassCounts, supportSum: number, zd: ZeroDivision, warnings: string[]): ReportRow {
  const macro = prfFromSums(c.tp, c.pred, c.tru, zd, warnings)
  const m = c.tp.length
  return {
    precision: numpySum(macro.precision) / m,
    recall: numpySum(macro.recall) / m,
    f1: numpySum(macro.f) / m,
    support: supportSum,
  }
}

/** average='weighted': np.average(x, weights=true_sum) = np.sum(x*w) / np.sum(w). */
function weightedAverage(c: ClassCounts, supportSum: number, zd: ZeroDivision, warnings: string[]): ReportRow {
  const weighted = prfFromSums(c.tp, c.pred, c.tru, zd, warnings)
  const wsum = numpySum(c.tru)
  if (wsum === 0) {
    const zv = zd === 1 ? 1 : 0
    return numpySum(c.pred) === 0
      ? { precision: zv, recall: zv, f1: zv, support: supportSum }
      : { precision: 0, recall: zv, f1: 0, support: supportSum }
  }
  const w = (x: number[]) => numpySum(x.map((v, i) => v * c.tru[i])) / wsum
  return { precision: w(weighted.precision), recall: w(weighted.recall), f1: w(weighted.f), support: supportSum }
}

/**
 * sklearn.metrics.classification_report(y_true, y_pred, labels=range(K), target_names=labels,
 * output_dict=True, zero_division=...) for class indices `yTrue`, `yPred` in [0, K).
 *
 * `labels` are the names of class indices 0..K-1. With `{labels: 'present'}` only classes
 * occurring in yTrue ∪ yPred are reported (sklearn's `labels=None`).
 */
export function classificationReport(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  labels: readonly string[],
  opts: ClassificationReportOptions = {},
): ClassificationReport {
  const mode = opts.labels ?? 'all'
  const { digits, zd } = reportOptions(opts)
  checkInputs(yTrue, yPred, labels)
  const k = labels.length
  const all = countClasses(yTrue, yPred, k)
  const present: number[] = []
  for (let c = 0; c < k; c++) if (all.tru[c] > 0 || all.pred[c] > 0) present.push(c)
  const classIndices = mode === 'present' ? present : Array.from({ length: k }, (_, c) => c)
  if (classIndices.length === 0) {
    throw new Error('classificationReport: there are no samples; evaluate a split that contains images.')
  }
  const microIsAccuracy = mode === 'present' || present.length === k

  const counts: ClassCounts = {
    tp: classIndices.map((c) => all.tp[c]),
    pred: classIndices.map((c) => all.pred[c]),
    tru: classIndices.map((c) => all.tru[c]),
  }
  const names = classIndices.map((c) => labels[c])
  const warnings: string[] = []

  // average=None
  const per = prfFromSums(counts.tp, counts.pred, counts.tru, zd, warnings)
  const supportSum = numpySum(counts.tru)
  const perClass: Record<string, ReportRow> = {}
  names.forEach((name, i) => {
    perClass[name] = { precision: per.precision[i], recall: per.recall[i], f1: per.f[i], support: counts.tru[i] }
  })
  const microAvg = microAverage(counts, supportSum, zd, warnings)
  const macroAvg = macroAverage(counts, supportSum, zd, warnings)
  const weightedAvg = weightedAverage(counts, supportSum, zd, warnings)

  return {
    labels: names,
    classIndices,
    perClass,
    accuracy: microIsAccuracy ? microAvg.precision : null,
    microIsAccuracy,
    microAvg,
    macroAvg,
    weightedAvg,
    warnings: [...new Set(warnings)],
    digits,
    zeroDivision: zd,
  }
}

// ---------------------------------------------------------------------------------------------
// Python-compatible formatting

/** Python's `format(x, '.{digits}f')`: exact value of the double, ties to even. */
export function formatFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan'
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf'
  const neg = x < 0 || Object.is(x, -0)
  const buf = new DataView(new ArrayBuffer(8))
  buf.setFloat64(0, Math.abs(x))
  const hi = buf.getUint32(0)
  const lo = buf.getUint32(4)
  const expBits = (hi >>> 20) & 0x7ff
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo)
  let exp: number
  if (expBits === 0) {
    exp = -1074
  } else {
    mant |= 1n << 52n
    exp = expBits - 1075
  }
  const scaled = mant * 10n ** BigInt(digits)
  let q: bigint
  if (exp >= 0) {
    q = scaled << BigInt(exp)
  } else {
    const den = 1n << BigInt(-exp)
    q = scaled / den
    const twice = (scaled - q * den) * 2n
    if (twice > den || (twice === den && (q & 1n) === 1n)) q += 1n
  }
  let s = q.toString()
  if (digits > 0) {
    s = s.padStart(digits + 1, '0')
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`
  }
  return (neg ? '-' : '') + s
}

/** Python's `'{:>{w}}'.format(s)`: pad on the left to w code points. */
function rjust(s: string, width: number): string {
  const len = Array.from(s).length
  return len >= width ? s : ' '.repeat(width - len) + s
}

/**
 * sklearn's text table, character for character (output_dict=False). Digits default to the
 * report's own `digits`.
 */
export function formatClassificationReport(report: ClassificationReport, opts: { digits?: number } = {}): string {
  const digits = opts.digits ?? report.digits
  const headers = ['precision', 'recall', 'f1-score', 'support']
  const longestLastLineHeading = 'weighted avg'
  const nameWidth = Math.max(...report.labels.map((l) => Array.from(l).length))
  const width = Math.max(nameWidth, longestLastLineHeading.length, digits)
  const row = (name: string, r: ReportRow) =>
    `${rjust(name, width)} ` +
    [r.precision, r.recall, r.f1].map((v) => ` ${rjust(formatFixed(v, digits), 9)}`).join('') +
    ` ${rjust(String(r.support), 9)}\n`
  let out = `${rjust('', width)} ` + headers.map((h) => ` ${rjust(h, 9)}`).join('')
  out += '\n\n'
  for (const name of report.labels) out += row(name, report.perClass[name])
  out += '\n'
  if (report.microIsAccuracy) {
    out +=
      `${rjust('accuracy', width)} ` +
      ` ${rjust('', 9)}`.repeat(2) +
      ` ${rjust(formatFixed(report.microAvg.f1, digits), 9)}` +
      ` ${rjust(String(report.microAvg.support), 9)}\n`
  } else {
    out += row('micro avg', report.microAvg)
  }
  out += row('macro avg', report.macroAvg)
  out += row('weighted avg', report.weightedAvg)
  return out
}

// ---------------------------------------------------------------------------------------------
// Export formats

type SklearnRow = { precision: number; recall: number; 'f1-score': number; support: number }
const toSk = (r: ReportRow): SklearnRow => ({ precision: r.precision, recall: r.recall, 'f1-score': r.f1, support: r.support })

/** The exact shape of sklearn's `classification_report(..., output_dict=True)`. */
export function reportToSklearnDict(report: ClassificationReport): Record<string, SklearnRow | number> {
  const out: Record<string, SklearnRow | number> = {}
  for (const name of report.labels) out[name] = toSk(report.perClass[name])
  if (report.microIsAccuracy) out['accuracy'] = report.microAvg.precision
  else out['micro avg'] = toSk(report.microAvg)
  out['macro avg'] = toSk(report.macroAvg)
  out['weighted avg'] = toSk(report.weightedAvg)
  return out
}

/** JSON: {labels, perClass:{label:{precision,recall,f1,support}}, accuracy, microAvg?, macroAvg, weightedAvg, warnings}. */
export function reportToJson(report: ClassificationReport, space = 2): string {
  const { labels, perClass, accuracy, microIsAccuracy, microAvg, macroAvg, weightedAvg, warnings } = report
  return JSON.stringify(
    { labels, perClass, accuracy, ...(microIsAccuracy ? {} : { microAvg }), macroAvg, weightedAvg, warnings },
    null,
    space,
  )
}

/** RFC 4180 field quoting. Also defuses spreadsheet formula injection for label text. */
export function csvField(v: string | number): string {
  let s = String(v)
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * CSV with the table's rows: `label,precision,recall,f1-score,support`, then the accuracy
 * (or micro avg), macro avg and weighted avg rows. Numbers at full precision unless `digits`.
 */
export function reportToCsv(report: ClassificationReport, opts: { digits?: number } = {}): string {
  const num = (v: number) => (opts.digits === undefined ? String(v) : formatFixed(v, opts.digits))
  const line = (name: string, r: ReportRow) =>
    [csvField(name), num(r.precision), num(r.recall), num(r.f1), String(r.support)].join(',')
  const lines = ['label,precision,recall,f1-score,support']
  for (const name of report.labels) lines.push(line(name, report.perClass[name]))
  if (report.microIsAccuracy) lines.push(['accuracy', '', '', num(report.microAvg.f1), String(report.microAvg.support)].join(','))
  else lines.push(line('micro avg', report.microAvg))
  lines.push(line('macro avg', report.macroAvg))
  lines.push(line('weighted avg', report.weightedAvg))
  return lines.join('\n') + '\n'
}
