export {
  classificationReport,
  formatClassificationReport,
  formatFixed,
  numpySum,
  reportToCsv,
  reportToJson,
  reportToSklearnDict,
  csvField,
} from './report'
export type { ClassificationReportOptions } from './report'
export { confusionMatrix, normalizeRows, topConfusions, cellItems } from './confusion'
export { evaluateWith, readCachedEvaluation, evaluationCachePath, evaluationSummary, type EvaluationSummary } from './evaluate-run'
export { predictWith, predictWithRun, toPredictionsCsv, expandInputs, IMAGE_EXTENSIONS, type PredictInput, type ImageBytes } from './predict'
export { evaluate, predict, saliency, saliencyWith, saliencyBatch, saliencyBatchWith, loadEvaluationRun, defaultDeps, type SaliencyResult, type SaliencyTarget, type SaliencyItem } from './project-api'
export { saliencyMap, saliencyOverlayPng, type SaliencyMap } from './saliency'
export type { EvaluationDeps, RunModel, EvalBatch, Ctl } from './deps'
export { compareRuns, settingsSummary } from './compare-runs'
