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
export { evaluateWith, readCachedEvaluation, evaluationCachePath } from './evaluate'
export { predictWith, predictWithRun, toPredictionsCsv, expandInputs, IMAGE_EXTENSIONS, type PredictInput, type ImageBytes } from './predict'
export { evaluate, predict, loadEvaluationRun, defaultDeps } from './service'
export type { EvaluationDeps, RunModel, EvalBatch, Ctl } from './deps'
