import { log, repeatEachRow, Rng, UsageError } from '@t2i/core';
import { buildGan, ganLosses, ganSetting, generatePixels, gridNoise, networkVariables, normalTensor, runFiles, runIdentity, saveGenerator, trainedOutDir, trainGan, writeEpochGrid, type GanBatch, type GanModels, type Mode, type TrainRun } from '@t2i/gan';
import type { SentenceSpace } from 'embeddings';
import type { Stage1Config } from './config.ts';
import { ganBatch, type GanData } from './data.ts';
import { buildGenerator, Discriminator, IMAGE_SIZE, type Generator } from './model.ts';

/** Noise vectors (columns) per reference caption in the checkpoint grids. */
export const GRID_NOISE = 8;

export type Stage1Models = GanModels<Generator, Discriminator>;

/** `classes`: how many training classes the auxiliary classifier tells apart, when auxClassLoss asks for one. */
export const buildStage1 = (config: Stage1Config, textDim: number, classes = 0): Stage1Models =>
  buildGan(config.seed, (store) => ({ generator: buildGenerator(store, config, textDim), discriminator: new Discriminator(store, config, textDim, classes) }));

/** The two sides of a Stage I training step, as the GAN loop (and the benchmark) call them. */
export function stage1Losses(models: Stage1Models, config: Stage1Config) {
  const { generator: G, discriminator: D } = models;
  const fakes = (batch: GanBatch, mode: Mode, rng: Rng) => {
    const n = batch.text.shape[0];
    const { c, mu, logSigma } = G.ca.apply(batch.text, normalTensor(rng, n, config.conditionDim));
    return { fake: G.generate(c, normalTensor(rng, n, config.zDim), mode), mu, logSigma };
  };
  return ganLosses(D, fakes, config);
}

export async function trainStage1(models: Stage1Models, data: GanData, config: Stage1Config, options: TrainRun): Promise<void> {
  const { store, generator: G } = models;
  const { dim, reference, encoderId } = data.vectors;
  // The reference captions (rows) x the same GRID_NOISE noise vectors at every checkpoint.
  const generators = { textDim: dim, stage1: G, dims: { zDim: config.zDim, conditionDim1: config.conditionDim } };
  const gridText = repeatEachRow(reference, dim, GRID_NOISE);
  const noise = gridNoise(config.seed, GRID_NOISE, reference.length / dim, generators.dims);

  const onCheckpoint = async (epoch: number) => {
    const { low } = await generatePixels(generators, gridText, noise);
    await writeEpochGrid(options.outDir, epoch, low, gridText.length / dim, IMAGE_SIZE, GRID_NOISE);
    await exportGenerator(options.outDir, models, config, { textDim: dim, encoder: encoderId }, epoch);
  };

  const steps = Math.floor(data.rows.length / config.batchSize);
  if (steps === 0) throw new UsageError(`stage1: ${data.rows.length} training images is fewer than one batch of ${config.batchSize}; lower --batch-size`);
  log(`stage1: ${config.generator} G, ${config.discriminator} D, config ${config.name}, ${store.count().toLocaleString()} parameters, ${data.rows.length} training images, ${steps} steps per epoch, backend ${options.backend}`);
  await trainGan({
    name: 'stage1',
    store,
    ...networkVariables(store),
    schedule: config,
    // A retrained sentence encoder makes other vectors of the same captions: another training.
    identity: runIdentity(config, { dim, encoder: encoderId, images: data.rows.length, ...auxiliaryClasses(config, data) }),
    rng: new Rng(config.seed ^ 0x51a6e1),
    epochBatches: (rng) => {
      const order = rng.shuffle([...data.rows]);
      return Array.from({ length: steps }, (_, i) => order.slice(i * config.batchSize, (i + 1) * config.batchSize));
    },
    batch: (rows, rng) => ganBatch(data, rows, IMAGE_SIZE, config.captionsPerExample, rng),
    ...stage1Losses(models, config),
    ...runFiles(options.outDir),
    restart: options.restart,
    minutes: options.minutes,
    onCheckpoint,
    // Its config without the average: the one that trains these very weights.
    onCheckpointTrained: (epoch) => exportGenerator(trainedOutDir(options.outDir), models, { ...config, weightAverage: undefined }, { textDim: dim, encoder: encoderId }, epoch),
  });
}

/** The auxiliary classifier's classes, part of what a run with one must agree with; nothing without one. */
const auxiliaryClasses = (config: Stage1Config, data: GanData) => (ganSetting(config, 'auxClassLoss') > 0 ? { classes: data.classes.length } : {});

/** The Stage I generator, for sampling and for Stage II. */
export async function exportGenerator(outDir: string, models: Stage1Models, config: Stage1Config, text: SentenceSpace, epoch: number): Promise<void> {
  await saveGenerator('stage1', outDir, models.store, { config, textDim: text.textDim, encoder: text.encoder, epoch });
}
