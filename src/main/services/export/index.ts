export { pickGolden } from './golden'
export {
  compareProbabilities,
  defaultExportDeps,
  exportModel,
  loadExportRun,
  projectGoldenSet,
  readParity,
  type ExportControl,
  type ExportDeps,
  type ExportFs,
  type ExportRun,
  type GoldenSet,
} from './export-model'
