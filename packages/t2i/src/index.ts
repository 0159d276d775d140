export { loadStage1Generator, modelArtifacts, requireModels, SIZE, TextToImagePipeline, type Pictures, type Stage } from './pipeline.ts';
export { writePictures, writeSample } from './pictures.ts';
