export { Stage1Config } from './config.ts';
export { buildGenerator, ComplexGenerator, Discriminator, Generator, IMAGE_SIZE, SimpleGenerator } from './model.ts';
export { cropBatch, ganBatch, ganData, type GanData } from './data.ts';
export { buildStage1, exportGenerator, stage1Losses, trainStage1, GRID_NOISE, type Stage1Models } from './train.ts';
