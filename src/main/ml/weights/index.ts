export { assignWeights, weightedLayers, type StoredWeight, type AssignOptions } from './assign'
export { loadKerasH5Weights, readKerasH5 } from './h5'
export { loadTfjsLayersWeights, loadTfjsArtifactsWeights, readTfjsModelFiles, groupTfjsWeights, layerOfWeight } from './tfjs'
export { loadNsfwjsMobileNetV2Weights, readNsfwjsMobileNetV2, findNsfwjsMobileNetDir, NSFWJS_MOBILENET_DIR } from './nsfwjs'
export {
  WeightsManager,
  kerasWeightsCatalog,
  weightsNameFor,
  weightsFileKind,
  loadWeightsFromSource,
  KERAS_APPLICATIONS_URL,
  type WeightsEntry,
  type EnsureOptions,
  type EnsureResult,
  type WeightsManagerOptions,
  type WeightsSource,
} from './manager'
