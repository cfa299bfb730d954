export { assignWeights, weightedLayers, type StoredWeight, type AssignOptions } from './assign'
export { loadKerasH5Weights, readKerasH5 } from './h5'
export { loadTfjsLayersWeights, loadTfjsArtifactsWeights, readTfjsModelFiles, groupTfjsWeights, layerOfWeight } from './tfjs'
export { loadNsfwjsMobileNetV2Weights, readNsfwjsMobileNetV2, findNsfwjsMobileNetDir, NSFWJS_MOBILENET_DIR } from './nsfwjs'
