import * as tf from '@tensorflow/tfjs'
import { ModelSpec, type MobileNetAlpha } from '../../../shared/models'
import { buildMobileNetV2, buildVgg16, MOBILENET_ALPHAS } from './bases'
import { buildCnn } from './cnn'
import { invalidModel } from './errors'
import { CNN_PRESETS } from './presets'

export interface ResolvedModel {
  model: tf.LayersModel
  /** What was built, e.g. {kind:'preset', name} or {kind:'base', base, alpha, inputSize}. */
  kind: 'preset' | 'base'
  description: string
}

/** Names `summary --model NAME` accepts (examples for messages and --help). */
export function knownModelNames(): string[] {
  return [...Object.keys(CNN_PRESETS), 'mobilenetv2', 'mobilenetv2-<alpha>-<size>', 'vgg16', 'vgg16-<size>']
}

/**
 * Resolves a CLI model name: a preset ('fashion-mnist-cnn', 'sign-mnist-cnn', 'cats-dogs-cnn', 'cats-dogs-cnn-bn'),
 * 'mobilenetv2' | 'mobilenetv2-<alpha>' | 'mobilenetv2-<alpha>-<size>', 'vgg16' | 'vgg16-<size>'
 * (bases without top, as Keras's include_top=False).
 */
export function resolveModelName(nameIn: string, opts: { numClasses?: number } = {}): ResolvedModel {
  const name = nameIn.trim().toLowerCase()
  const preset = CNN_PRESETS[name]
  if (preset) {
    const numClasses = opts.numClasses ?? preset.numClasses
    return {
      model: buildCnn(preset.layers, { inputShape: preset.inputShape, numClasses }),
      kind: 'preset',
      description: preset.description,
    }
  }
  let m = /^mobilenet_?v2(?:-(\d*\.?\d+))?(?:-(\d+))?$/.exec(name)
  if (m) {
    const alpha = m[1] === undefined ? 1.0 : Number(m[1])
    const size = m[2] === undefined ? 224 : Number(m[2])
    if (!MOBILENET_ALPHAS.includes(alpha as MobileNetAlpha))
      throw invalidModel(`Unknown MobileNetV2 width "${m[1]}" in "${nameIn}"; expected one of ${MOBILENET_ALPHAS.join(', ')}.`, 'Example: mobilenetv2-0.35-160')
    return {
      model: buildMobileNetV2({ alpha: alpha as MobileNetAlpha, inputSize: size }),
      kind: 'base',
      description: `MobileNetV2 alpha ${alpha}, ${size}x${size}, without top`,
    }
  }
  m = /^vgg16(?:-(\d+))?$/.exec(name)
  if (m) {
    const size = m[1] === undefined ? 224 : Number(m[1])
    return { model: buildVgg16({ inputSize: size }), kind: 'base', description: `VGG16 ${size}x${size}, without top` }
  }
  throw invalidModel(`Unknown model "${nameIn}".`, `Known models: ${knownModelNames().join(', ')}.`)
}

/** The ModelSpec of a preset, for storing in project state. */
export function presetSpec(name: string): ModelSpec {
  const p = CNN_PRESETS[name]
  if (!p) throw invalidModel(`Unknown preset "${name}".`, `Known presets: ${Object.keys(CNN_PRESETS).join(', ')}.`)
  return ModelSpec.parse({ type: 'cnn', preset: name, layers: p.layers })
}
