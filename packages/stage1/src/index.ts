export { ganTrainingFields, Stage1Config } from './config.ts';
export { buildGenerator, ComplexGenerator, ConditioningAugmentation, Discriminator, Generator, SimpleGenerator } from './model.ts';
export { discriminatorLoss, ganClsLosses, generatorLoss, klLoss, type ClsBatch, type TextDiscriminator } from './losses.ts';
export { averagedCaption, cropBatch, ganBatch, ganData, normalTensor, requireTwoClasses, type GanBatch, type GanData } from './data.ts';
export { buildStage1, exportGenerator, generateStage1, generatorDir, saveGenerator, stage1Losses, trainStage1, IMAGE_SIZE, type Stage1Models } from './train.ts';
export { loadStage1Generator, SAMPLE_FILES, sampleCommand, sampleNoise, sampleStage1, type LoadedGenerator } from './sample.ts';
