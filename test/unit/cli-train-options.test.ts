import { describe, expect, it } from 'vitest'
import { trainOptions } from '../../src/cli/train-options'
import { TrainOptions } from '../../src/shared/training'

describe('CLI train flags', () => {
  it('map to the contract’s one name per option (--batch → batchSize, --lr → learningRate, --resume → resumeRunId)', async () => {
    const o = await trainOptions({ batch: '16', lr: '0.001', epochs: '3' })
    expect(o).toMatchObject({ batchSize: 16, learningRate: 0.001, epochs: 3 })
    expect(TrainOptions.parse(o)).toMatchObject({ batchSize: 16, learningRate: 0.001, epochs: 3 })
    expect(TrainOptions.parse(await trainOptions({ resume: 'r1' })).resumeRunId).toBe('r1')
  })

  it('--threads N becomes the threads option; 0 or a fraction is refused naming the flag', async () => {
    expect(TrainOptions.parse(await trainOptions({ threads: '3' })).threads).toBe(3)
    expect(TrainOptions.parse(await trainOptions({})).threads).toBeUndefined()
    await expect(trainOptions({ threads: '0' })).rejects.toThrow(/--threads/)
    await expect(trainOptions({ threads: '1.5' })).rejects.toThrow(/--threads/)
  })

  it('the contract has no second name for an option', () => {
    for (const alias of ['batch', 'lr', 'fineTuneLr', 'resume']) expect(TrainOptions.safeParse({ [alias]: 1 }).success).toBe(false)
  })
})
