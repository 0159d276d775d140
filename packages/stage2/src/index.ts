export { Stage2Config } from './config.ts';
export { Discriminator, Generator } from './model.ts';
export { ImageStream, openStage2Data, streamedBatch, type RowInfo, type Stage2Data, type StreamStep } from './data.ts';
export { buildStage2, exportGenerator, generatePairs, stage1Images, stage2Losses, trainStage2, GRID_NOISE, IMAGE_SIZE, type PairNoise, type Stage2Batch, type Stage2Models } from './train.ts';
export { loadStage2Generator, otherStage1, sampleStage2, stage2Noise, type LoadedStage2 } from './sample.ts';
