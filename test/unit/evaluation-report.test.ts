import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  classificationReport,
  formatClassificationReport,
  formatFixed,
  numpySum,
  reportToCsv,
  reportToJson,
  reportToSklearnDict,
} from '../../src/main/services/evaluation/report'
import { confusionMatrix, topConfusions } from '../../src/main/services/evaluation/confusion'

/** Goldens written by scripts/golden/sklearn_report.py (scikit-learn from Debian). */
interface Golden {
  name: string
  inputs: { y_true: number[]; y_pred: number[]; labels: string[]; digits: number; mode: 'all' | 'present'; zero_division: 'warn' | 0 | 1 }
  output_dict: Record<string, number | Record<string, number>>
  text: string
  warnings: string[]
  confusion_matrix: number[][]
  confusion_matrix_normalized_true: number[][]
}

const dir = join(__dirname, '..', 'fixtures', 'sklearn')
const goldens: Golden[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))

describe('classificationReport vs scikit-learn goldens', () => {
  it('has the required cases', () => {
    const names = goldens.map((g) => g.name)
    for (const n of ['binary', 'ten_classes', 'twentyfour_classes', 'no_predictions', 'no_support', 'string_labels', 'ten_classes_digits4', 'absent_label_all']) {
      expect(names).toContain(n)
    }
  })

  for (const g of goldens) {
    describe(g.name, () => {
      const { y_true, y_pred, labels, digits, mode, zero_division } = g.inputs
      const report = classificationReport(y_true, y_pred, labels, { digits, labels: mode, zeroDivision: zero_division })

      it('matches output_dict to 1e-12 with the same keys in the same order', () => {
        const ours = reportToSklearnDict(report)
        expect(Object.keys(ours)).toEqual(Object.keys(g.output_dict))
        for (const [key, want] of Object.entries(g.output_dict)) {
          const got = ours[key]
          if (typeof want === 'number') {
            expect(typeof got).toBe('number')
            expect(Math.abs((got as number) - want)).toBeLessThanOrEqual(1e-12)
          } else {
            const row = got as Record<string, number>
            expect(Object.keys(row)).toEqual(Object.keys(want))
            for (const [metric, v] of Object.entries(want)) {
              expect(Math.abs(row[metric] - v), `${key}.${metric}`).toBeLessThanOrEqual(1e-12)
            }
          }
        }
      })

      it('is bit-identical to numpy (pairwise sums)', () => {
        const ours = reportToSklearnDict(report)
        expect(JSON.parse(JSON.stringify(ours))).toEqual(g.output_dict)
      })

      it('formats the text table character for character', () => {
        expect(formatClassificationReport(report)).toBe(g.text)
      })

      it('surfaces the same UndefinedMetricWarning messages', () => {
        expect(report.warnings).toEqual([...new Set(g.warnings)])
      })

      it('confusion matrix equals sklearn.metrics.confusion_matrix (counts and normalize="true")', () => {
        const cm = confusionMatrix(y_true, y_pred, labels.length)
        expect(cm.counts).toEqual(g.confusion_matrix)
        expect(cm.total).toBe(y_true.length)
        cm.rowNormalized.forEach((row, i) =>
          row.forEach((v, j) => expect(Math.abs(v - g.confusion_matrix_normalized_true[i][j])).toBeLessThanOrEqual(1e-12)),
        )
      })
    })
  }
})

describe('formatFixed (Python format(x, ".Nf"))', () => {
  it('rounds exact binary ties to even and non-ties by their exact value', () => {
    expect(formatFixed(0.125, 2)).toBe('0.12') // exact tie -> even
    expect(formatFixed(0.375, 2)).toBe('0.38')
    expect(formatFixed(0.5, 0)).toBe('0')
    expect(formatFixed(1.5, 0)).toBe('2')
    expect(formatFixed(2.5, 0)).toBe('2')
    expect(formatFixed(0.615, 2)).toBe('0.61') // 0.61499999999999999112...
    expect(formatFixed(0.145, 2)).toBe('0.14') // 0.14499999999999999001...
    expect(formatFixed(1.005, 2)).toBe('1.00')
    expect(formatFixed(0, 3)).toBe('0.000')
    expect(formatFixed(-0, 2)).toBe('-0.00')
    expect(formatFixed(1 / 3, 17)).toBe('0.33333333333333331')
    expect(formatFixed(123456789.987654321, 4)).toBe('123456789.9877')
    expect(formatFixed(5e-324, 2)).toBe('0.00')
    expect(formatFixed(1e21, 1)).toBe('1000000000000000000000.0')
  })
})

describe('numpySum', () => {
  it('is associativity-sensitive exactly like numpy pairwise summation (checked against sequential sum)', () => {
    // 0.1 added 200 times: sequential and pairwise orders give different doubles
    const a = new Array(200).fill(0.1)
    let seq = 0
    for (const v of a) seq += v
    expect(numpySum(a)).not.toBe(seq)
    expect(seq).toBe(20.000000000000014) // Python: sum([0.1] * 200)
    expect(numpySum(a)).toBe(20) // numpy 1.24: np.sum(np.full(200, 0.1)) == 20.0
  })
})

describe('input validation', () => {
  it('rejects mismatched lengths, out-of-range indices, duplicate labels and no samples with clear messages', () => {
    expect(() => classificationReport([0, 1], [0], ['a', 'b'])).toThrow(/yTrue has 2 entries but yPred has 1/)
    expect(() => classificationReport([0, 2], [0, 1], ['a', 'b'])).toThrow(/yTrue\[1\] = 2 is not a class index in \[0, 1\]/)
    expect(() => classificationReport([0, 1], [0, 0.5], ['a', 'b'])).toThrow(/yPred\[1\] = 0.5/)
    expect(() => classificationReport([0], [0], ['a', 'a'])).toThrow(/label "a" appears twice/)
    expect(() => classificationReport([], [], ['a'], { labels: 'present' })).toThrow(/no samples/)
  })
})

describe('exports', () => {
  const g = goldens.find((x) => x.name === 'string_labels')!
  const r = classificationReport(g.inputs.y_true, g.inputs.y_pred, g.inputs.labels)
  it('CSV has one row per class plus accuracy/macro/weighted, quoting as RFC 4180', () => {
    const csv = reportToCsv(r, { digits: 2 })
    const lines = csv.trimEnd().split('\n')
    expect(lines[0]).toBe('label,precision,recall,f1-score,support')
    expect(lines).toHaveLength(1 + g.inputs.labels.length + 3)
    // the CSV numbers at 2 digits are the table's numbers
    const tableRow = g.text.split('\n').find((l) => l.includes('golden retriever puppy'))!
    expect(lines[1]).toBe(['golden retriever puppy', ...tableRow.trim().split(/\s+/).slice(3)].join(','))
    const acc = g.output_dict['accuracy'] as number
    expect(lines[1 + g.inputs.labels.length]).toMatch(/^accuracy,,,/)
    expect(Number(reportToCsv(r).trimEnd().split('\n')[1 + g.inputs.labels.length].split(',')[3])).toBeCloseTo(acc, 12)
    const withComma = classificationReport([0, 1], [0, 1], ['a, "b"', '=cmd'])
    const l2 = reportToCsv(withComma).split('\n')
    expect(l2[1].startsWith('"a, ""b""",')).toBe(true)
    expect(l2[2].startsWith("'=cmd,")).toBe(true)
  })
  it('JSON round-trips the numbers', () => {
    const j = JSON.parse(reportToJson(r))
    expect(j.perClass.cat.f1).toBe(r.perClass.cat.f1)
    expect(j.accuracy).toBe(g.output_dict['accuracy'])
    expect(j.macroAvg).toEqual(r.macroAvg)
  })
})

describe('topConfusions', () => {
  it('lists the largest off-diagonal cells of the golden 10-class matrix first', () => {
    const g = goldens.find((x) => x.name === 'ten_classes')!
    const top = topConfusions(g.confusion_matrix, g.inputs.labels, 5)
    const all: number[] = []
    g.confusion_matrix.forEach((row, i) => row.forEach((v, j) => i !== j && v > 0 && all.push(v)))
    all.sort((a, b) => b - a)
    expect(top.map((c) => c.count)).toEqual(all.slice(0, 5))
    for (const c of top) {
      expect(g.confusion_matrix[c.trueIndex][c.predIndex]).toBe(c.count)
      expect(c.trueLabel).toBe(g.inputs.labels[c.trueIndex])
      expect(c.trueIndex).not.toBe(c.predIndex)
    }
  })
})
