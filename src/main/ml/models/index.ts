export { buildCnn, inferShapes, kerasSnakeName, KerasNamer, type BuildOptions } from './cnn'
export { CNN_PRESETS, listPresets, type CnnPreset } from './presets'
export {
  buildBase,
  buildMobileNetV2,
  buildVgg16,
  makeDivisible,
  correctPad,
  mobileNetV2Name,
  MOBILENET_ALPHAS,
  MOBILENET_SIZES,
  type BaseOptions,
} from './bases'
export { buildModel, buildModelFull, buildTransferModel, type TransferModel, type TransferOptions, type BuiltModel } from './transfer'
export { summarize, formatSummary } from './summary'
export { preprocessFor, preprocessForSpec, applyPreprocess, CAFFE_MEAN_BGR, RESCALE_01 } from './preprocess'
export { resolveModelName, knownModelNames, presetSpec, type ResolvedModel } from './resolve'
export { keepBatchNormInInference, isBatchNormInInference } from './batchnorm'
