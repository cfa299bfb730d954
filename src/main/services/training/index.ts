export { listRuns, loadRun, loadRunModel, readMetrics, type RunModel, type LoadedRun, type RunConfig } from '../../ml/training/runs'
export { parseAugment, formatAugment, TrainOptions } from '../../../shared/training'
export { augmentPreview } from './preview'
export { isTraining, setTrainerSpawner, spawnTrainer, startTraining, stopTraining, type StartTrainingControl, type TrainerProcess } from './trainer'
