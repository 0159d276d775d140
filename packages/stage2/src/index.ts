export { departures, Stage2Config } from './config.ts';
export { Discriminator, Generator, IMAGE_SIZE } from './model.ts';
export { otherStage1, readStage2Generator, type LoadedStage1, type LoadedStage2 } from './exported.ts';
export { ImageStream, openStage2Data, streamedBatch, type RowInfo, type Stage2Data, type StreamStep } from './data.ts';
export { buildStage2, exportGenerator, loadStage2Generator, stage1Images, stage2Losses, trainStage2, GRID_NOISE, type Stage2Batch, type Stage2Models } from './train.ts';
