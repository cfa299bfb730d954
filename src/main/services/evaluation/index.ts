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
