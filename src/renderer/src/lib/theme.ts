import { onBeforeUnmount, ref } from 'vue'

/** Chart colours read from the design tokens; refreshed when the OS switches light/dark. */
export interface ChartTheme {
  text: string
  muted: string
  grid: string
  accent: string
  series: string[]
  dark: boolean
}

function cssVar(name: string, fallback: string): string {
  if (typeof document === 'undefined') return fallback
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback
}

export function readTheme(): ChartTheme {
  const dark = typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches
  return {
    text: cssVar('--text', '#1c2330'),
    muted: cssVar('--text-muted', '#5d6878'),
    grid: cssVar('--border', '#e1e5eb'),
    accent: cssVar('--accent', '#3b5bdb'),
    series: [cssVar('--chart-1', '#3b5bdb'), cssVar('--chart-2', '#e8590c'), cssVar('--chart-3', '#2b8a3e'), cssVar('--chart-4', '#ae3ec9'), cssVar('--chart-5', '#1098ad'), cssVar('--chart-6', '#f08c00')],
    dark,
  }
}

/** A reactive theme for charts in a component. */
export function useChartTheme() {
  const theme = ref<ChartTheme>(readTheme())
  const mq = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null
  const update = () => (theme.value = readTheme())
  mq?.addEventListener('change', update)
  onBeforeUnmount(() => mq?.removeEventListener('change', update))
  return theme
}
