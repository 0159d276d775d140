export { Stage1Config } from './config.ts';
export { buildGenerator, ComplexGenerator, Discriminator, Generator, SimpleGenerator } from './model.ts';
export { cropBatch, ganBatch, ganData, type GanData } from './data.ts';
export { buildStage1, exportGenerator, stage1Losses, trainStage1, GRID_NOISE, IMAGE_SIZE, type Stage1Models } from './train.ts';
