/** Small formatters shared by the views (pure functions). */

export function pct(x: number | null | undefined, digits = 1): string {
  if (x == null || !Number.isFinite(x)) return '–'
  return `${(x * 100).toFixed(digits)}%`
}

export function num(x: number | null | undefined, digits = 4): string {
  if (x == null || !Number.isFinite(x)) return '–'
  return Number(x.toFixed(digits)).toString()
}

export function int(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return '–'
  return Math.round(x).toLocaleString('en-US')
}

export function duration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return '–'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`
}

export function sci(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return '–'
  return x >= 0.01 ? String(Number(x.toPrecision(3))) : x.toExponential(1)
}

export function basename(p: string): string {
  const parts = p.split(/[\\/]/)
  return parts[parts.length - 1] || p
}

/** RFC 4180 CSV of rows (first row = header). */
export function toCsv(rows: (string | number)[][]): string {
  const cell = (v: string | number) => {
    const s = String(v)
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return rows.map((r) => r.map(cell).join(',')).join('\n') + '\n'
}

/** Bytes as B / KB / MB / GB (decimal units, as download sizes are usually given). */
export function bytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '–'
  if (n < 1000) return `${Math.round(n)} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = n / 1000
  let u = 0
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`
}

/** A date and time as the user's locale writes it, e.g. "Nov 25, 2026, 5:51 PM". */
export function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/** An axis tick as people write it: 1.7, not 1.7000000000000002 (floating-point tick steps). */
export function axisTick(v: string | number): string {
  const n = Number(v)
  if (!Number.isFinite(n)) return String(v)
  return String(Number(n.toPrecision(6)))
}

/** A fixed number of decimals, as scikit-learn's text report prints them ("0.64", "1.00", "0.50"). */
export function fixed(x: number | null | undefined, digits = 2): string {
  if (x == null || !Number.isFinite(x)) return '–'
  return x.toFixed(digits)
}

/** A compact date and time for tables: "Dec 4, 5:36 PM", with the year only when it is not this one. */
export function shortWhen(iso: string, now = new Date()): string {
  const d = new Date(iso)
  if (!Number.isFinite(d.getTime())) return '–'
  const sameYear = d.getFullYear() === now.getFullYear()
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }), hour: 'numeric', minute: '2-digit' })
}
