import { log, readJson, repeatEachRow, Rng, stepDir, UsageError } from '@t2i/core';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { tf } from '@t2i/backends';
import { buildGan, ganLosses, ganSetting, generatePixels, generatorDir, gridNoise, loadGenerator, loadTensors, networkVariables, normalTensor, runFiles, runIdentity, saveGenerator, saveTensors, trainedOutDir, trainGan, upscale, writeEpochGrid, type GanBatch, type GanModels, type Mode, type TrainRun } from '@t2i/gan';
import { requireOneSentenceSpace, type SentenceSpace } from 'embeddings';
import type { Stage2Config } from './config.ts';
import { streamedBatch, type Stage2Data, type StreamStep } from './data.ts';
import { buildStage2Generator, STAGE2_MAKE, withStage1, type LoadedStage1, type LoadedStage2 } from './exported.ts';
import { Discriminator, Generator, IMAGE_SIZE, STAGE1_SIZE, toStage1Size } from './model.ts';

/** Noise vectors per reference caption in the checkpoint grids. */
export const GRID_NOISE = 4;

export type Stage2Models = GanModels<Generator, Discriminator>;

/** `classes`: how many training classes the auxiliary classifier tells apart, when auxClassLoss asks for one. */
export const buildStage2 = (config: Stage2Config, textDim: number, classes = 0): Stage2Models =>
  buildGan(config.seed, (store) => ({ generator: new Generator(store, config, textDim), discriminator: new Discriminator(store, config, textDim, classes) }));

/** A Stage II batch: real and wrong 256x256 images, the text, and the frozen Stage I's 64x64 images for that text. */
export type Stage2Batch = GanBatch & { lowRes: tf.Tensor4D };

/**
 * The frozen Stage I's images for text vectors, noise drawn from `rng`, in inference mode. Made
 * with the batch, outside the gradient tapes: Stage I's variables are in no var list and get no
 * gradient, and the discriminator and generator updates share one Stage I image per example.
 */
export function stage1Images(stage1: LoadedStage1, text: tf.Tensor2D, rng: Rng): tf.Tensor4D {
  const { generator: g, config } = stage1;
  const n = text.shape[0];
  return tf.tidy(() => g.generate(g.ca.apply(text, normalTensor(rng, n, config.conditionDim)).c, normalTensor(rng, n, config.zDim), { training: false }));
}

/** Mean absolute difference: the L1 terms' distance. */
const l1 = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => a.sub(b).abs().mean();

/**
 * The two sides of a Stage II training step, as the GAN loop (and the benchmark) call them:
 * StackGAN's, plus the departures a config switches on (consistency with the Stage I image, upsampling real pairs).
 */
export function stage2Losses(models: Stage2Models, config: Stage2Config) {
  const { generator: G, discriminator: D } = models;
  const fakes = (batch: Stage2Batch, mode: Mode, rng: Rng) => {
    const { c, mu, logSigma } = G.ca.apply(batch.text, normalTensor(rng, batch.text.shape[0], config.conditionDim));
    return { fake: G.generate(batch.lowRes, c, mode), mu, logSigma };
  };
  const consistency = config.consistencyWeight ?? 0;
  const upsampler = config.upsamplerWeight ?? 0;
  const extra = (batch: Stage2Batch, fake: tf.Tensor4D, mode: Mode): Record<string, tf.Scalar> => ({
    ...(consistency > 0 && { consistency: l1(toStage1Size(fake), batch.lowRes).mul(consistency) as tf.Scalar }),
    // The caption's mean code, no noise: this term teaches upsampling, not variety. Batch norm records
    // its statistics from the fakes' pass alone, as without this term.
    ...(upsampler > 0 && { upsampler: l1(G.generate(toStage1Size(batch.real), G.ca.apply(batch.text, tf.zeros([batch.text.shape[0], config.conditionDim])).c, { training: mode.training }), batch.real).mul(upsampler) as tf.Scalar }),
  });
  return ganLosses(D, fakes, config, consistency > 0 || upsampler > 0 ? extra : undefined);
}

export async function trainStage2(models: Stage2Models, stage1: LoadedStage1, data: Stage2Data, config: Stage2Config, options: TrainRun): Promise<void> {
  const { store, generator: G } = models;
  const { stream, vectors } = data;
  const { dim, reference, encoderId } = vectors;
  requireOneSentenceSpace({ embeddings: { textDim: dim, encoder: encoderId }, 'Stage I': stage1 }, 'pnpm turbo run stage1');
  // Each row: one reference caption, [Stage I upscaled, Stage II] for each of GRID_NOISE noise vectors.
  const generators = { textDim: dim, stage1: stage1.generator, stage2: G, dims: { zDim: stage1.config.zDim, conditionDim1: stage1.config.conditionDim, conditionDim2: config.conditionDim } };
  const gridText = repeatEachRow(reference, dim, GRID_NOISE);
  const noise = gridNoise(config.seed, GRID_NOISE, reference.length / dim, generators.dims);

  const onCheckpoint = async (epoch: number) => {
    const n = gridText.length / dim;
    const { low, high } = await generatePixels(generators, gridText, noise);
    const pairs = interleave(upscale(low, n, STAGE1_SIZE, IMAGE_SIZE), high!, IMAGE_SIZE * IMAGE_SIZE * 3);
    await writeEpochGrid(options.outDir, epoch, pairs, 2 * n, IMAGE_SIZE, 2 * GRID_NOISE);
    await exportGenerator(options.outDir, models, config, { textDim: dim, encoder: encoderId }, epoch, stage1);
  };

  const images = stream.rows.length;
  const steps = Math.floor(images / config.batchSize);
  if (steps === 0) throw new UsageError(`stage2: ${images} training images is fewer than one batch of ${config.batchSize}; lower --batch-size`);
  log(
    `stage2: config ${config.name}, ${store.count().toLocaleString()} parameters, on a frozen Stage I (${stage1.config.generator} G, ngf ${stage1.config.ngf}, epoch ${stage1.epoch}); ` +
      `${images} training images streamed from ${stream.recordBatches} record batches through ${config.shuffleRows} shuffle rows, ${steps} steps per epoch, backend ${options.backend}`,
  );
  await trainGan<Stage2Batch, StreamStep>({
    name: 'stage2',
    store,
    ...networkVariables(store),
    schedule: config,
    // As Stage I's; the sentence encoder was checked above to be Stage I's.
    // Drawing is not training: the same run with the projection or without.
    identity: runIdentity({ ...config, projectWhenDrawing: undefined }, { dim, encoder: encoderId, images, stage1: { config: stage1.config, epoch: stage1.epoch }, ...(ganSetting(config, 'auxClassLoss') > 0 ? { classes: data.classes.length } : {}) }),
    rng: new Rng(config.seed ^ 0x51a6e2),
    epochBatches: (rng) => stream.startEpoch(rng, config.batchSize, config.shuffleRows),
    batch: async (step, rng) => {
      const batch = await streamedBatch(data, step, IMAGE_SIZE, config.captionsPerExample, rng);
      return { ...batch, lowRes: stage1Images(stage1, batch.text, rng) };
    },
    ...stage2Losses(models, config),
    ...runFiles(options.outDir),
    restart: options.restart,
    minutes: options.minutes,
    onCheckpoint,
    // Its config without the average: the one that trains these very weights.
    onCheckpointTrained: (epoch) => exportGenerator(trainedOutDir(options.outDir), models, { ...config, weightAverage: undefined }, { textDim: dim, encoder: encoderId }, epoch, stage1),
  });
  // A finished run resumed with the draw-time switch changed trains nothing, so no checkpoint rewrote its exports.
  for (const dir of [options.outDir, trainedOutDir(options.outDir)]) await setDrawingSwitch(generatorDir(dir), config.projectWhenDrawing);
}

/** Rewrites an exported generator whose config disagrees with `projectWhenDrawing`: its weights as they are, its config with the switch. */
async function setDrawingSwitch(dir: string, projectWhenDrawing: boolean | undefined): Promise<void> {
  const file = path.join(dir, 'tensors.json');
  if (!existsSync(file) || Boolean(readJson<{ meta: { config: Stage2Config } }>(file).meta.config.projectWhenDrawing) === Boolean(projectWhenDrawing)) return;
  const { groups, meta } = await loadTensors(dir);
  try {
    await saveTensors(dir, groups, { ...meta, config: { ...(meta.config as Stage2Config), projectWhenDrawing } });
  } finally {
    tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
  }
  log(`stage2: ${dir} now ${projectWhenDrawing ? 'projects' : 'does not project'} its image onto Stage I's when drawing (weights unchanged)`);
}

/** a1, b1, a2, b2, ...: images of `stride` bytes from two sets, in pairs. */
function interleave(a: Uint8Array, b: Uint8Array, stride: number): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  for (let i = 0; i < a.length / stride; i++) {
    out.set(a.subarray(i * stride, (i + 1) * stride), 2 * i * stride);
    out.set(b.subarray(i * stride, (i + 1) * stride), (2 * i + 1) * stride);
  }
  return out;
}

/** The Stage II generator alone (with its conditioning augmentation), for sampling; it records the Stage I it was trained on. */
export async function exportGenerator(outDir: string, models: Stage2Models, config: Stage2Config, text: SentenceSpace, epoch: number, stage1: LoadedStage1): Promise<void> {
  await saveGenerator('stage2', outDir, models.store, { config, textDim: text.textDim, encoder: text.encoder, epoch, stage1: { config: stage1.config, epoch: stage1.epoch } });
}

/** The exported Stage II generator (data/stage2/generator), ready for inference. */
export async function loadStage2Generator(dir = generatorDir(stepDir('stage2'))): Promise<LoadedStage2> {
  return withStage1(await loadGenerator(dir, STAGE2_MAKE, buildStage2Generator));
}
