export { Stage2Config } from './config.ts';
export { Discriminator, Generator } from './model.ts';
export { ImageStream, openStage2Data, streamedBatch, type RowInfo, type Stage2Data, type StreamStep } from './data.ts';
export { buildStage2, exportGenerator, loadStage2Generator, otherStage1, stage1Images, stage2Losses, trainStage2, GRID_NOISE, IMAGE_SIZE, type LoadedStage1, type LoadedStage2, type Stage2Batch, type Stage2Models } from './train.ts';
