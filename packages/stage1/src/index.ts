export { Stage1Config } from './config.ts';
export { buildGenerator, ComplexGenerator, Discriminator, Generator, SimpleGenerator } from './model.ts';
export { cropBatch, ganBatch, ganData, type GanData } from './data.ts';
export { buildStage1, exportGenerator, generateStage1, stage1Losses, trainStage1, IMAGE_SIZE, type Stage1Models } from './train.ts';
export { loadStage1Generator, SAMPLE_FILES, sampleCommand, sampleNoise, sampleStage1, type LoadedGenerator } from './sample.ts';
