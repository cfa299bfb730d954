import { parseAugment } from '../../../shared/training'

/** The Data view's augmentation controls: a checkbox each, and a slider for the amount. */
export interface AugmentControls {
  flipH: boolean
  flipV: boolean
  rotate: { on: boolean; value: number }
  zoom: { on: boolean; value: number }
  shift: { on: boolean; value: number }
  brightness: { on: boolean; value: number }
}

/** Slider ranges: degrees for rotate, fractions for the others. */
export const AUGMENT_RANGES = {
  rotate: { min: 1, max: 45, step: 1 },
  zoom: { min: 0.05, max: 0.5, step: 0.05 },
  shift: { min: 0.05, max: 0.3, step: 0.05 },
  brightness: { min: 0.05, max: 0.5, step: 0.05 },
} as const

const round = (v: number) => Number(v.toFixed(2))

/**
 * The spec text the controls stand for, exactly what the CLI's `--augment` and the Train view
 * take (e.g. `flip,rotate=15,zoom=0.1`); `none` when nothing is on.
 */
export function augmentSpecText(c: AugmentControls): string {
  const parts: string[] = []
  if (c.flipH && c.flipV) parts.push('flip=both')
  else if (c.flipH) parts.push('flip')
  else if (c.flipV) parts.push('flip=vertical')
  if (c.rotate.on) parts.push(`rotate=${round(c.rotate.value)}`)
  if (c.zoom.on) parts.push(`zoom=${round(c.zoom.value)}`)
  if (c.shift.on) parts.push(`shift=${round(c.shift.value)}`)
  if (c.brightness.on) parts.push(`brightness=${round(c.brightness.value)}`)
  return parts.length ? parts.join(',') : 'none'
}

/** The controls for a spec text (unknown parts throw, as the CLI does); off controls keep a useful amount. */
export function controlsFromSpec(text: string): AugmentControls {
  const a = parseAugment(text)
  const shift = Math.max(a.shiftX ?? 0, a.shiftY ?? 0)
  return {
    flipH: a.flip === 'horizontal' || a.flip === 'both',
    flipV: a.flip === 'vertical' || a.flip === 'both',
    rotate: { on: !!a.rotate, value: a.rotate || 15 },
    zoom: { on: !!a.zoom, value: a.zoom || 0.1 },
    shift: { on: shift > 0, value: shift || 0.1 },
    brightness: { on: !!a.brightness, value: a.brightness || 0.2 },
  }
}
