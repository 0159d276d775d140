export { EvaluateConfig } from './config.ts';
export { FlowerClassifier, classifierData, loadOrTrainClassifier, readClassificationSplit, toClassifierInput, type ClassifierData, type ClassifierInfo } from './classifier.ts';
export { courseScore, fid, frechetDistance, gaussianOf, inceptionScore, rPrecision, sqrtPsd, symmetricEigen, topK, trueClassRanks } from './metrics.ts';
export { disposeTextToImage, loadTextToImage, textToImages, writePictures, type Pictures, type TextToImage } from './generate.ts';
export { modelArtifacts, requireModels, SIZE, type Stage } from './generators.ts';
export { renderReport, reportFile, type ReportInput } from './report.ts';
export { scoresArrowFile, scoresJsonFile, type ScoresJson } from './scores.ts';
export { runEvaluate, type EvaluateOptions } from './stage.ts';
