import { z } from 'zod'
import { ResizeMode } from './project'
import { PreprocessSpec } from './models'

export const ExportFormat = z.enum(['tfjs', 'h5', 'onnx'])
export type ExportFormat = z.infer<typeof ExportFormat>

export const ExportOptions = z.object({
  format: ExportFormat,
  /** Destination folder; created. New, empty, or an earlier export with `overwrite`; inside a project only <project>/exports/<name>. */
  out: z.string().min(1),
  /** Run to export; default: the project's latest finished run (its best checkpoint). */
  runId: z.string().min(1).optional(),
  /** Replace an earlier export of the app in `out` (never a project or a folder with other files). Default false. */
  overwrite: z.boolean().optional(),
  /** Most images in the parity golden set (stratified over classes). Default 64. */
  parityImages: z.number().int().min(1).max(1024).optional(),
})
export type ExportOptions = z.infer<typeof ExportOptions>

/**
 * How pixels (0..255) become model input, as the app does it: the models owner's PreprocessSpec
 * (`scale`: x * scale + offset; `caffe`: RGB -> BGR then subtract the BGR mean) or `none` (raw 0..255).
 */
export const ModelPreprocess = z.union([PreprocessSpec, z.object({ kind: z.literal('none') })])
export type ModelPreprocess = z.infer<typeof ModelPreprocess>

/** Contents of preprocessing.json in every export folder: exactly how an image file becomes the input tensor. */
export const PreprocessingJson = z.object({
  /** Square side the image is resized to (height = width = inputSize). */
  inputSize: z.number().int(),
  resizeMode: ResizeMode,
  /** Fill colour for `pad` mode and alpha compositing, #rrggbb. */
  background: z.string(),
  /** 'rgb' or 'grayscale': the colour of the decoded image before any channel tiling. */
  colour: z.enum(['rgb', 'grayscale']),
  /** Channels of the tensor fed to the exported model. */
  channels: z.number().int(),
  /** Gray images are repeated to 3 channels before normalisation (grayscale project, RGB base). */
  grayToRgb: z.boolean(),
  /** Channel order of the tensor you feed the exported model (BGR for caffe-style normalisation done outside the model). */
  channelOrder: z.enum(['RGB', 'BGR', 'GRAY']),
  /** Layout of the exported model's input tensor. */
  layout: z.enum(['NHWC', 'NCHW']),
  dtype: z.literal('float32'),
  normalization: ModelPreprocess,
  /** True when the normalisation (and any channel reorder/tiling) is inside the exported graph: feed raw 0..255 pixels. */
  foldedIntoModel: z.boolean(),
  /** The input tensor's name in the exported model. */
  inputName: z.string(),
  outputName: z.string(),
  /** Step by step, in words. */
  steps: z.array(z.string()),
})
export type PreprocessingJson = z.infer<typeof PreprocessingJson>

export interface ParityReport {
  /** Golden images compared. */
  images: number
  /** Largest absolute difference between the app's and the export's class probabilities. */
  maxAbsDiff: number
  /** Fraction (0..1) of images where both predict the same class. */
  labelAgreement: number
  /** maxAbsDiff <= tolerance and every label agrees. */
  passed: boolean
  tolerance: number
  /** How the exported artifact was run (runtime and loader). */
  runtime: string
  /** The run's temperature folded into the exported model's last layer; both sides give calibrated probabilities (1: none fitted). */
  temperature?: number
  warning?: string
}

export interface ExportResult {
  format: ExportFormat
  /** Absolute folder of the export. */
  out: string
  /** File names inside `out`. */
  files: string[]
  parity: ParityReport
  runId?: string
}

export const PARITY_TOLERANCE = 1e-4
