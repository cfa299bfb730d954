import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { applyDocumentedPreprocessing, describePreprocessing } from '../../src/main/ml/export/preprocess'
import { applyPreprocess, preprocessFor, RESCALE_01 } from '../../src/main/ml/models/preprocess'
import { PreprocessingJson } from '../../src/shared/export'
import type { PreprocessSpec } from '../../src/shared/models'
import type { ProjectSettings } from '../../src/shared/project'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const rgb: ProjectSettings = { inputSize: 8, resizeMode: 'pad', background: '#102030', channels: 3 }
const gray: ProjectSettings = { ...rgb, channels: 1 }

function pixels(c: number): tf.Tensor4D {
  return tf.tensor4d(Uint8Array.from({ length: 2 * 8 * 8 * c }, (_, i) => (i * 37) % 256), [2, 8, 8, c], 'int32')
}

describe('preprocessing.json', () => {
  const cases: [string, ProjectSettings, PreprocessSpec, number][] = [
    ['VGG16 caffe, RGB project', rgb, preprocessFor('vgg16'), 3],
    ['VGG16 caffe, grayscale project', gray, preprocessFor('vgg16'), 3],
    ['MobileNetV2, grayscale project', gray, preprocessFor('mobilenetv2'), 3],
    ['custom CNN 0..1, grayscale', gray, RESCALE_01, 1],
  ]
  for (const [name, settings, pre, modelChannels] of cases) {
    it(`${name}: following the documented steps gives exactly the app's input`, () => {
      const p = PreprocessingJson.parse(describePreprocessing({ settings, preprocess: pre, modelChannels, folded: false, layout: 'NHWC', inputName: 'in', outputName: 'out' }))
      const x = pixels(settings.channels)
      const app = applyPreprocess(x, pre, modelChannels as 1 | 3)
      const documented = applyDocumentedPreprocessing(x, p)
      expect(documented.shape).toEqual(app.shape)
      expect(tf.max(tf.abs(tf.sub(app, documented))).dataSync()[0]).toBe(0)
      expect(p.grayToRgb).toBe(settings.channels === 1 && modelChannels === 3)
      tf.dispose([x, app, documented])
    })
  }

  it('says what to feed: BGR for caffe outside the model, RGB/GRAY raw pixels when folded into ONNX', () => {
    const tfjs = describePreprocessing({ settings: rgb, preprocess: preprocessFor('vgg16'), modelChannels: 3, folded: false, layout: 'NHWC', inputName: 'in', outputName: 'out' })
    expect(tfjs).toMatchObject({ channelOrder: 'BGR', channels: 3, foldedIntoModel: false, background: '#102030', resizeMode: 'pad' })
    expect(tfjs.steps.join('\n')).toContain('reorder channels RGB -> BGR and subtract the mean [103.939, 116.779, 123.68] (B, G, R)')
    const onnx = describePreprocessing({ settings: gray, preprocess: preprocessFor('vgg16'), modelChannels: 3, folded: true, layout: 'NHWC', inputName: 'input', outputName: 'probabilities' })
    expect(onnx).toMatchObject({ channelOrder: 'GRAY', channels: 1, grayToRgb: true, foldedIntoModel: true, colour: 'grayscale' })
    expect(onnx.steps.join('\n')).toMatch(/Feed it as is: the model itself does this first: repeat the gray channel 3 times/)
  })
})
