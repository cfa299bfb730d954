import { describe, expect, it } from 'vitest'
import { augmentSpecText, controlsFromSpec } from '../../src/renderer/src/lib/augment'
import { parseAugment } from '../../src/shared/training'

describe('augmentation controls ↔ the CLI’s --augment spec', () => {
  it('the controls give the spec text the CLI parses to the same augmentation', () => {
    const c = controlsFromSpec('flip,rotate=15,zoom=0.1')
    expect(augmentSpecText(c)).toBe('flip,rotate=15,zoom=0.1')
    c.flipV = true
    c.rotate.value = 30
    c.shift = { on: true, value: 0.15000000000000002 }
    c.brightness.on = true
    c.zoom.on = false
    const text = augmentSpecText(c)
    expect(text).toBe('flip=both,rotate=30,shift=0.15,brightness=0.2')
    expect(parseAugment(text)).toEqual({ flip: 'both', rotate: 30, shiftX: 0.15, shiftY: 0.15, brightness: 0.2 })
  })

  it('everything off is "none"; vertical flip alone; a spec round-trips', () => {
    const c = controlsFromSpec('none')
    expect(augmentSpecText(c)).toBe('none')
    expect(parseAugment(augmentSpecText(c))).toEqual({})
    expect(augmentSpecText({ ...c, flipV: true })).toBe('flip=vertical')
    for (const s of ['flip=vertical,shift=0.1', 'rotate=45,brightness=0.5', 'zoom=0.25']) expect(augmentSpecText(controlsFromSpec(s))).toBe(s)
    expect(() => controlsFromSpec('spin=3')).toThrow(/Cannot read augmentation "spin=3"/)
  })
})
