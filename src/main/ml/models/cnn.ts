import * as tf from '@tensorflow/tfjs'
import { LayerSpec, type LayerSpecInput } from '../../../shared/models'
import { parseOrThrow } from '../../../shared/errors'
import { invalidModel } from './errors'

export interface BuildOptions {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number]
  numClasses: number
}

/** Keras's auto-name for a layer class (`to_snake_case(cls.__name__)`). */
export function kerasSnakeName(className: string): string {
  const s1 = className.replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
  return s1.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()
}

/**
 * Per-model layer-name allocator that reproduces Keras's names in a fresh session:
 * conv2d, max_pooling2d, conv2d_1, ... (Keras counts per class name, starting without suffix).
 */
export class KerasNamer {
  private counts = new Map<string, number>()
  private used = new Set<string>()
  name(className: string, explicit?: string): string {
    if (explicit) {
      if (this.used.has(explicit)) throw invalidModel(`Two layers are named "${explicit}".`, 'Give every layer a unique name, or leave names out so they are chosen automatically.')
      this.used.add(explicit)
      return explicit
    }
    const base = kerasSnakeName(className)
    for (;;) {
      const n = this.counts.get(base) ?? 0
      this.counts.set(base, n + 1)
      const candidate = n === 0 ? base : `${base}_${n}`
      if (!this.used.has(candidate)) {
        this.used.add(candidate)
        return candidate
      }
    }
  }
}

const pair = (v: number | [number, number] | undefined, dflt: [number, number]): [number, number] =>
  v === undefined ? dflt : typeof v === 'number' ? [v, v] : v

/** Output size along one axis, as TensorFlow computes it. */
function outSize(n: number, k: number, s: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(n / s) : Math.floor((n - k) / s) + 1
}

const fmtShape = (s: (number | null)[]) => `(${['None', ...s.map(String)].join(', ')})`

type Shape = number[] // without batch axis

/**
 * Validates a layer list against an input shape the way Keras would fail while building it,
 * but before any tensor is created, with messages that name the layer and say how to fix it.
 * Returns the output shape of every layer (without the batch axis).
 */
export function inferShapes(layers: LayerSpec[], inputShape: [number, number, number], names: string[]): Shape[] {
  const shapes: Shape[] = []
  let shape: Shape = [...inputShape]
  layers.forEach((l, i) => {
    const who = `Layer "${names[i]}" (${l.type}, layer ${i + 1} of ${layers.length})`
    const needs4d = () => {
      if (shape.length !== 3)
        throw invalidModel(
          `${who} expects an image-shaped input (None, height, width, channels) but receives ${fmtShape(shape)}.`,
          'Put convolution and pooling layers before Flatten / GlobalAveragePooling2D, not after.',
        )
    }
    switch (l.type) {
      case 'Conv2D':
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        needs4d()
        const [h, w, c] = shape
        const k = l.type === 'Conv2D' ? pair(l.kernelSize, [1, 1]) : pair(l.poolSize, [2, 2])
        const s = l.type === 'Conv2D' ? pair(l.strides, [1, 1]) : pair(l.strides, k)
        const what = l.type === 'Conv2D' ? 'kernel' : 'pool size'
        if (l.padding === 'valid' && (k[0] > h || k[1] > w)) {
          throw invalidModel(
            `${who}: its ${what} ${k[0]}x${k[1]} is larger than its input ${h}x${w}x${c} (input shape ${fmtShape(shape)}) with padding "valid", ` +
              `which would give a negative output size (Keras: "Negative dimension size caused by subtracting ${k[0] > h ? k[0] : k[1]} from ${k[0] > h ? h : w}").`,
            `Fix: use padding "same" for this layer, a ${what} of at most ${Math.min(h, w)}x${Math.min(h, w)}, fewer pooling/strided layers before it, or a larger input size.`,
          )
        }
        const oh = outSize(h, k[0], s[0], l.padding)
        const ow = outSize(w, k[1], s[1], l.padding)
        shape = [oh, ow, l.type === 'Conv2D' ? l.filters : c]
        break
      }
      case 'BatchNormalization':
      case 'Dropout':
        break
      case 'Flatten': {
        if (shape.length === 1) throw invalidModel(`${who} receives an already flat input ${fmtShape(shape)}.`, 'Remove this Flatten layer.')
        shape = [shape.reduce((a, b) => a * b, 1)]
        break
      }
      case 'GlobalAveragePooling2D': {
        needs4d()
        shape = [shape[2]]
        break
      }
      case 'Dense': {
        if (shape.length !== 1)
          throw invalidModel(
            `${who} receives an image-shaped input ${fmtShape(shape)}; Dense here would act on the channels only and the classifier would not get a (None, classes) output.`,
            'Fix: insert a Flatten or GlobalAveragePooling2D layer before the first Dense layer.',
          )
        shape = [l.units]
        break
      }
    }
    shapes.push(shape)
  })
  return shapes
}

function makeLayer(l: LayerSpec, name: string, first: { batchInputShape?: [null, number, number, number] }): tf.layers.Layer {
  const common = { name, ...first }
  switch (l.type) {
    case 'Conv2D':
      return tf.layers.conv2d({
        ...common,
        filters: l.filters,
        kernelSize: l.kernelSize,
        strides: l.strides,
        padding: l.padding,
        activation: l.activation,
        useBias: l.useBias,
      })
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const args = { ...common, poolSize: l.poolSize, strides: l.strides ?? l.poolSize, padding: l.padding }
      return l.type === 'MaxPooling2D' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args)
    }
    case 'BatchNormalization':
      return tf.layers.batchNormalization({ ...common, momentum: l.momentum, epsilon: l.epsilon })
    case 'Dropout':
      return tf.layers.dropout({ ...common, rate: l.rate })
    case 'Flatten':
      return tf.layers.flatten(common)
    case 'GlobalAveragePooling2D':
      return tf.layers.globalAveragePooling2d(common)
    case 'Dense':
      return tf.layers.dense({ ...common, units: l.units, activation: l.activation, useBias: l.useBias })
  }
}

function checkBuildOptions(opts: BuildOptions): void {
  const [h, w, c] = opts.inputShape ?? []
  if (![h, w, c].every((v) => Number.isInteger(v) && v > 0))
    throw invalidModel(`inputShape must be [height, width, channels] of positive integers; received ${JSON.stringify(opts.inputShape)}.`)
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 2)
    throw invalidModel(`numClasses must be an integer >= 2; received ${opts.numClasses}.`, 'A classifier needs at least two labels: add images of another class.')
}

/**
 * Builds a Keras-equivalent Sequential CNN: the given hidden layers, then the classifier
 * Dense(numClasses, softmax) named as Keras would name it.
 */
export function buildCnn(layersIn: LayerSpecInput[], opts: BuildOptions): tf.Sequential {
  checkBuildOptions(opts)
  const layers = layersIn.map((l, i) => parseOrThrow(LayerSpec, l, `layer ${i + 1} (${(l as { type?: string }).type ?? 'no type'})`))
  const all: LayerSpec[] = [...layers, { type: 'Dense', units: opts.numClasses, activation: 'softmax', useBias: true }]
  const namer = new KerasNamer()
  const names = all.map((l) => namer.name(l.type, l.name))
  inferShapes(all, opts.inputShape, names)
  const model = tf.sequential({ name: 'sequential' })
  all.forEach((l, i) => model.add(makeLayer(l, names[i], i === 0 ? { batchInputShape: [null, ...opts.inputShape] } : {})))
  return model
}
