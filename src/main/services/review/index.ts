export { reviewDataset, REVIEW_FOLDS, REVIEW_SEED, type ReviewControl } from './review'
export { findLabelIssues, confidentThresholds, confidentJoint } from './confident-learning'
export { crossValidatedProbabilities, stratifiedFolds } from './softmax'
