export { describeModels, loadPipeline, loadStage1Generator, locateModels, modelArtifacts, requireModels, SIZE, TextToImagePipeline, trainedModels, type ModelFolders, type ModelSource, type Pictures, type Stage } from './pipeline.ts';
export { shipModels, shippedDir, stage1Verdict, stage2Verdict, verifyShipped, ShippedManifest } from './shipped.ts';
export { writePictures, writeSample } from './pictures.ts';
