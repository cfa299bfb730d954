import { describe, expect, it } from 'vitest'
import { StepMemory } from '../../src/main/ml/training/step-memory'

describe('step memory of the training threads', () => {
  it('hands out aligned zeroed views of one shared buffer that the optimizer kernel sees', () => {
    const m = new StepMemory(10, 3)
    const a = m.alloc(3)
    const b = m.alloc(5)
    expect(a.buffer).toBe(m.buffer)
    expect(b.byteOffset % 16).toBe(0)
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 12)
    a.set([1, 2, 3])
    b.set([10, 20, 30, 40, 50])
    // b = 2·a' + 0.5·b over 3 floats (a scalar tail: 3 is not a multiple of 4), in place.
    m.kernels.combine(b.byteOffset, a.byteOffset, b.byteOffset, 3, 2, 0.5)
    expect([...b]).toEqual([7, 14, 21, 40, 50])
  })

  it('says why a model is too large for it instead of failing in WebAssembly', () => {
    expect(() => new StepMemory(1.2e9, 4)).toThrow(/4\.5 GiB, more than the 4 GiB one wasm memory holds \(fewer threads need less\)/)
  })
})
