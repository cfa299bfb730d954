import { z } from 'zod'

/** Keras activation names supported by the builder. */
export const Activation = z.enum(['linear', 'relu', 'relu6', 'sigmoid', 'softmax', 'tanh', 'elu', 'selu', 'swish'])
export type Activation = z.infer<typeof Activation>

export const Padding = z.enum(['same', 'valid'])
export type Padding = z.infer<typeof Padding>

const IntOrPair = z.union([z.number().int().min(1), z.tuple([z.number().int().min(1), z.number().int().min(1)])])
export type IntOrPair = z.infer<typeof IntOrPair>

/** One layer of a custom CNN, with Keras's argument names and defaults. */
export const Conv2DSpec = z.object({
  type: z.literal('Conv2D'),
  name: z.string().min(1).optional(),
  filters: z.number().int().min(1).max(8192),
  kernelSize: IntOrPair,
  strides: IntOrPair.default(1),
  padding: Padding.default('valid'),
  activation: Activation.default('linear'),
  useBias: z.boolean().default(true),
})
export const PoolingSpec = z.object({
  type: z.enum(['MaxPooling2D', 'AveragePooling2D']),
  name: z.string().min(1).optional(),
  poolSize: IntOrPair.default(2),
  /** Keras default: strides = poolSize. */
  strides: IntOrPair.optional(),
  padding: Padding.default('valid'),
})
export const BatchNormalizationSpec = z.object({
  type: z.literal('BatchNormalization'),
  name: z.string().min(1).optional(),
  momentum: z.number().min(0).max(1).default(0.99),
  epsilon: z.number().positive().default(1e-3),
})
export const DropoutSpec = z.object({
  type: z.literal('Dropout'),
  name: z.string().min(1).optional(),
  rate: z.number().min(0).lt(1),
})
export const FlattenSpec = z.object({ type: z.literal('Flatten'), name: z.string().min(1).optional() })
export const GlobalAveragePooling2DSpec = z.object({
  type: z.literal('GlobalAveragePooling2D'),
  name: z.string().min(1).optional(),
})
export const DenseSpec = z.object({
  type: z.literal('Dense'),
  name: z.string().min(1).optional(),
  units: z.number().int().min(1).max(1_000_000),
  activation: Activation.default('linear'),
  useBias: z.boolean().default(true),
})

export const LayerSpec = z.discriminatedUnion('type', [
  Conv2DSpec,
  PoolingSpec,
  BatchNormalizationSpec,
  DropoutSpec,
  FlattenSpec,
  GlobalAveragePooling2DSpec,
  DenseSpec,
])
export type LayerSpec = z.infer<typeof LayerSpec>
export type LayerSpecInput = z.input<typeof LayerSpec>

export const TransferBase = z.enum(['mobilenetv2', 'vgg16'])
export type TransferBase = z.infer<typeof TransferBase>

export const MobileNetAlpha = z.union([z.literal(0.35), z.literal(0.5), z.literal(0.75), z.literal(1.0)])
export type MobileNetAlpha = z.infer<typeof MobileNetAlpha>

export const CnnModelSpec = z.object({
  type: z.literal('cnn'),
  /** Name of the preset the layers came from (informational; `layers` is what is built). */
  preset: z.string().optional(),
  /**
   * Hidden layers. The classifier (Dense(numClasses, softmax)) is appended by the builder
   * unless the last layer already is a Dense whose units equal numClasses.
   */
  layers: z.array(LayerSpec).min(1),
})
export const TransferModelSpec = z.object({
  type: z.literal('transfer'),
  base: TransferBase,
  /** MobileNetV2 width multiplier (ignored for VGG16). Default 1.0. */
  alpha: MobileNetAlpha.optional(),
  /** Dropout rate between the pooled features and the classifier. Default 0.2 (Keras tutorial). */
  dropout: z.number().min(0).lt(1).optional(),
})
export const ModelSpec = z.discriminatedUnion('type', [CnnModelSpec, TransferModelSpec])
export type ModelSpec = z.infer<typeof ModelSpec>
export type ModelSpecInput = z.input<typeof ModelSpec>

export const LayerSummary = z.object({
  name: z.string(),
  type: z.string(),
  /** Keras notation, e.g. "(None, 28, 28, 32)"; several outputs joined by ", ". */
  outputShape: z.string(),
  params: z.number().int(),
  /** Inbound layer names (functional models only), as Keras's "Connected to" column. */
  connectedTo: z.array(z.string()).optional(),
})
export type LayerSummary = z.infer<typeof LayerSummary>

export const ModelSummary = z.object({
  model: z.string(),
  layers: z.array(LayerSummary),
  totalParams: z.number().int(),
  trainableParams: z.number().int(),
  nonTrainableParams: z.number().int(),
})
export type ModelSummary = z.infer<typeof ModelSummary>

/** The input transform a model expects; stored with every trained model. */
export const PreprocessSpec = z.discriminatedUnion('kind', [
  /** y = x * scale + offset (per pixel value in 0..255). MobileNetV2: scale 1/127.5, offset -1. */
  z.object({ kind: z.literal('scale'), scale: z.number(), offset: z.number() }),
  /** Keras "caffe" mode (VGG16): RGB -> BGR, then subtract the ImageNet mean per BGR channel. */
  z.object({
    kind: z.literal('caffe'),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    channelOrder: z.literal('bgr'),
  }),
])
export type PreprocessSpec = z.infer<typeof PreprocessSpec>

/** Result of loading weights into a model by layer name. */
export const WeightsReport = z.object({
  /** Layers whose every weight was set. */
  loaded: z.array(z.string()),
  /** Model layers with weights that the file does not have (left as initialised). */
  missing: z.array(z.string()),
  /** Layers present in both with a different number or shape of weights. */
  mismatched: z.array(z.object({ layer: z.string(), expected: z.array(z.array(z.number())), found: z.array(z.array(z.number())) })),
  /** Layers with weights in the file that the model does not have (e.g. another model's top). */
  extra: z.array(z.string()),
})
export type WeightsReport = z.infer<typeof WeightsReport>

export const WeightsProgress = z.object({
  name: z.string(),
  phase: z.enum(['download', 'verify', 'done']),
  receivedBytes: z.number(),
  totalBytes: z.number().nullable(),
  resumed: z.boolean(),
})
export type WeightsProgress = z.infer<typeof WeightsProgress>

/** Id of the offline MobileNetV2 weights (shipped in the nsfwjs package: ImageNet in blocks 0-10, blocks 11-16 trained for another task). */
export const NSFWJS_WEIGHTS_ID = 'nsfwjs-4.4.0-mobilenetv2'
