import { log, repeatEachRow, Rng, tileRows, UsageError } from '@t2i/core';
import { type GanBatch, ganClsLosses, MetricsLog, type Mode, normalTensor, ParamStore, saveGenerator, toBytes, trainGan, type TrainRun, writeImageGrid } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { requireOneSentenceSpace, type SentenceSpace } from 'embeddings';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { generateStage1, type LoadedGenerator } from 'stage1';
import type { Stage2Config } from './config.ts';
import { streamedBatch, type Stage2Data, type StreamStep } from './data.ts';
import { Discriminator, Generator } from './model.ts';

export const IMAGE_SIZE = 256;
/** Noise vectors per reference caption in the checkpoint grids. */
export const GRID_NOISE = 4;
/** Images generated at once for grids and samples: a full-width generator's 256x256 maps are large. */
const CHUNK = 8;

export interface Stage2Models {
  store: ParamStore;
  generator: Generator;
  discriminator: Discriminator;
}

export function buildStage2(config: Stage2Config, textDim: number): Stage2Models {
  const store = new ParamStore(new Rng(config.seed));
  return {
    store,
    generator: new Generator(store, config, textDim),
    discriminator: new Discriminator(store, config, textDim),
  };
}

/** A Stage II batch: real and wrong 256x256 images, the text, and the frozen Stage I's 64x64 images for that text. */
export type Stage2Batch = GanBatch & { lowRes: tf.Tensor4D };

/**
 * The frozen Stage I's images for text vectors, noise drawn from `rng`, in inference mode. Made
 * with the batch, outside the gradient tapes: Stage I's variables are in no var list and get no
 * gradient, and the discriminator and generator updates share one Stage I image per example.
 */
export function stage1Images(stage1: LoadedGenerator, text: tf.Tensor2D, rng: Rng): tf.Tensor4D {
  const { generator: g, config } = stage1;
  const n = text.shape[0];
  return tf.tidy(() => g.generate(g.ca.apply(text, normalTensor(rng, n, config.conditionDim)).c, normalTensor(rng, n, config.zDim), { training: false }));
}

/** The two sides of a Stage II training step, as the GAN loop (and the benchmark) call them. */
export function stage2Losses(models: Stage2Models, config: Stage2Config) {
  const { generator: G, discriminator: D } = models;
  const fakes = (batch: Stage2Batch, mode: Mode, rng: Rng) => {
    const { c, mu, logSigma } = G.ca.apply(batch.text, normalTensor(rng, batch.text.shape[0], config.conditionDim));
    return { fake: G.generate(batch.lowRes, c, mode), mu, logSigma };
  };
  return ganClsLosses(D, fakes, config.klWeight);
}

/** Noise for both stages: Stage I's z and conditioning noise, Stage II's conditioning noise; [n, d] each, flattened. */
export interface PairNoise {
  z: Float32Array;
  eps1: Float32Array;
  eps2: Float32Array;
}

/**
 * Text vectors [n, dim] through the frozen Stage I and then Stage II with given noise, in
 * inference mode: both stages' images as 256x256 bytes, Stage I's upscaled with nearest
 * neighbour so that the two compare pixel for pixel.
 */
export async function generatePairs(stage1: LoadedGenerator, generator: Generator, conditionDim: number, text: Float32Array, noise: PairNoise): Promise<{ stage1: Uint8Array; stage2: Uint8Array }> {
  const dim = stage1.textDim;
  const n = text.length / dim;
  const stride = IMAGE_SIZE * IMAGE_SIZE * 3;
  const out = { stage1: new Uint8Array(n * stride), stage2: new Uint8Array(n * stride) };
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    const rows = (v: Float32Array, d: number) => v.subarray(start * d, (start + count) * d);
    const [low, high] = tf.tidy(() => {
      const image = generateStage1(stage1.generator, rows(text, dim), dim, rows(noise.z, stage1.config.zDim), rows(noise.eps1, stage1.config.conditionDim), stage1.config);
      const { c } = generator.ca.apply(tf.tensor2d(rows(text, dim), [count, dim]), tf.tensor2d(rows(noise.eps2, conditionDim), [count, conditionDim]));
      return [tf.image.resizeNearestNeighbor(image, [IMAGE_SIZE, IMAGE_SIZE]), generator.generate(image, c, { training: false })];
    });
    out.stage1.set(toBytes((await low.data()) as Float32Array), start * stride);
    out.stage2.set(toBytes((await high.data()) as Float32Array), start * stride);
    tf.dispose([low, high]);
  }
  return out;
}

/** Fixed noise for the reference grids, GRID_NOISE columns per caption, so that grids of different epochs compare. */
function fixedGridNoise(stage1: Pick<LoadedGenerator['config'], 'zDim' | 'conditionDim'>, config: Pick<Stage2Config, 'conditionDim' | 'seed'>, rows: number): PairNoise {
  const rng = new Rng(config.seed + 7919);
  const draw = (d: number) => tileRows(Float32Array.from({ length: GRID_NOISE * d }, () => rng.normal()), d, rows);
  return { z: draw(stage1.zDim), eps1: draw(stage1.conditionDim), eps2: draw(config.conditionDim) };
}

export async function trainStage2(models: Stage2Models, stage1: LoadedGenerator, data: Stage2Data, config: Stage2Config, options: TrainRun): Promise<void> {
  const { store, generator: G } = models;
  const { stream, vectors } = data;
  const dim = vectors.dim;
  requireOneSentenceSpace({ embeddings: { textDim: dim, encoder: vectors.encoderId }, 'Stage I': stage1 }, 'pnpm turbo run stage1');
  const captions = vectors.reference.length / dim;
  const noise = fixedGridNoise(stage1.config, config, captions);
  const gridText = repeatEachRow(vectors.reference, dim, GRID_NOISE);

  const onCheckpoint = async (epoch: number) => {
    const pairs = await generatePairs(stage1, G, config.conditionDim, gridText, noise);
    // Each row: one reference caption, [Stage I upscaled, Stage II] for each noise vector.
    const stride = IMAGE_SIZE * IMAGE_SIZE * 3;
    const n = gridText.length / dim;
    const cells = new Uint8Array(2 * n * stride);
    for (let i = 0; i < n; i++) {
      cells.set(pairs.stage1.subarray(i * stride, (i + 1) * stride), 2 * i * stride);
      cells.set(pairs.stage2.subarray(i * stride, (i + 1) * stride), (2 * i + 1) * stride);
    }
    const file = path.join(options.outDir, 'grids', `epoch-${String(epoch).padStart(4, '0')}.png`);
    await writeImageGrid(file, cells, 2 * n, IMAGE_SIZE, { cols: 2 * GRID_NOISE });
    await copyFile(file, path.join(options.outDir, 'grid-latest.png'));
    await exportGenerator(options.outDir, models, config, { textDim: dim, encoder: vectors.encoderId }, epoch, stage1);
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
    gVars: store.trainable('g').concat(store.trainable('ca')),
    dVars: store.trainable('d'),
    schedule: config,
    // As Stage I's: length, checkpointing and learning rate may change; the sentence encoder may
    // not (Stage I was checked above to read the same one's vectors).
    identity: JSON.stringify({ ...config, epochs: 0, name: '', checkpointEvery: 0, keepCheckpoints: 0, learningRate: 0, dim, encoder: vectors.encoderId, images, stage1: { config: stage1.config, epoch: stage1.epoch } }),
    rng: new Rng(config.seed ^ 0x51a6e2),
    epochBatches: (rng) => stream.startEpoch(rng, config.batchSize, config.shuffleRows),
    batch: async (step, rng) => {
      const batch = await streamedBatch(data, step, IMAGE_SIZE, config.captionsPerExample, rng);
      return { ...batch, lowRes: stage1Images(stage1, batch.text, rng) };
    },
    ...stage2Losses(models, config),
    checkpointDir: path.join(options.outDir, 'checkpoints'),
    metrics: new MetricsLog(path.join(options.outDir, 'metrics.jsonl')),
    restart: options.restart,
    minutes: options.minutes,
    onCheckpoint,
    outputs: ['grids', 'grid-latest.png'].map((f) => path.join(options.outDir, f)),
  });
}

/** The Stage II generator alone (with its conditioning augmentation), for sampling; it records the Stage I it was trained on. */
export async function exportGenerator(outDir: string, models: Stage2Models, config: Stage2Config, text: SentenceSpace, epoch: number, stage1: LoadedGenerator): Promise<void> {
  await saveGenerator('stage2', outDir, models.store, { config, textDim: text.textDim, encoder: text.encoder, epoch, stage1: { config: stage1.config, epoch: stage1.epoch } });
}
