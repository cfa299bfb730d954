export { pickGolden } from './golden'
export { compareProbabilities, readParity, type GoldenSet } from './parity'
export {
  defaultExportDeps,
  exportModel,
  loadExportRun,
  projectGoldenSet,
  type ExportControl,
  type ExportDeps,
  type ExportFs,
  type ExportRun,
} from './export-model'
