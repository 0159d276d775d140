export { EvaluateConfig } from './config.ts';
export { FlowerClassifier, classifierData, loadOrTrainClassifier, readClassificationSplit, toClassifierInput, type ClassifierData, type ClassifierInfo } from './classifier.ts';
export { courseScore, fid, frechetDistance, gaussianOf, inceptionScore, rPrecision, sqrtPsd, symmetricEigen, topK, trueClassRanks } from './metrics.ts';
export { measure, type EvaluateOptions, type Measurement } from './measure.ts';
export { renderReport, reportFile, writeReport, type ReportInput } from './report.ts';
export { scoresArrowFile, scoresJsonFile, type ScoresJson } from './scores.ts';
export { runEvaluate } from './evaluate.ts';
