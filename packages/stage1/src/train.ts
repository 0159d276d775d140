import { log, repeatEachRow, Rng, tileRows, UsageError } from '@t2i/core';
import { tf } from '@t2i/backends';
import type { SentenceSpace } from 'embeddings';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { Stage1Config } from './config.ts';
import { ganBatch, type GanData } from './data.ts';
import { buildGenerator, Discriminator, type Generator } from './model.ts';
import { ganClsLosses, MetricsLog, normalTensor, ParamStore, saveGenerator, toBytes, trainGan, writeImageGrid, type GanBatch, type Mode, type TrainRun } from '@t2i/gan';

export const IMAGE_SIZE = 64;
export const GRID_NOISE = 8;

export interface Stage1Models {
  store: ParamStore;
  generator: Generator;
  discriminator: Discriminator;
}

export function buildStage1(config: Stage1Config, textDim: number): Stage1Models {
  const store = new ParamStore(new Rng(config.seed));
  return {
    store,
    generator: buildGenerator(store, config, textDim),
    discriminator: new Discriminator(store, config, textDim),
  };
}

/** Fixed noise and CA noise for the reference grids, so that grids of different epochs compare. */
export function fixedGridNoise(config: Pick<Stage1Config, 'zDim' | 'conditionDim' | 'seed'>, rows: number) {
  const rng = new Rng(config.seed + 7919);
  const draw = (d: number) => tileRows(Float32Array.from({ length: GRID_NOISE * d }, () => rng.normal()), d, rows);
  return { z: draw(config.zDim), eps: draw(config.conditionDim), n: rows * GRID_NOISE };
}

/** Generator output for text vectors [n, dim] with given noise, in inference mode: [n, 64, 64, 3]. */
export function generateStage1(g: Generator, text: Float32Array, dim: number, z: Float32Array, eps: Float32Array, config: Pick<Stage1Config, 'zDim' | 'conditionDim'>): tf.Tensor4D {
  const n = text.length / dim;
  return tf.tidy(() => {
    const { c } = g.ca.apply(tf.tensor2d(text, [n, dim]), tf.tensor2d(eps, [n, config.conditionDim]));
    return g.generate(c, tf.tensor2d(z, [n, config.zDim]), { training: false });
  });
}

/** The two sides of a Stage I training step, as the GAN loop (and the benchmark) call them. */
export function stage1Losses(models: Stage1Models, config: Stage1Config) {
  const { generator: G, discriminator: D } = models;
  const fakes = (batch: GanBatch, mode: Mode, rng: Rng) => {
    const n = batch.text.shape[0];
    const { c, mu, logSigma } = G.ca.apply(batch.text, normalTensor(rng, n, config.conditionDim));
    return { fake: G.generate(c, normalTensor(rng, n, config.zDim), mode), mu, logSigma };
  };
  return ganClsLosses(D, fakes, config.klWeight);
}

export async function trainStage1(models: Stage1Models, data: GanData, config: Stage1Config, options: TrainRun): Promise<void> {
  const { store, generator: G } = models;
  const dim = data.vectors.dim;
  const grid = fixedGridNoise(config, data.vectors.reference.length / dim);
  const gridText = repeatEachRow(data.vectors.reference, dim, GRID_NOISE);

  const onCheckpoint = async (epoch: number) => {
    const images = generateStage1(G, gridText, dim, grid.z, grid.eps, config);
    const bytes = toBytes((await images.data()) as Float32Array);
    images.dispose();
    const file = path.join(options.outDir, 'grids', `epoch-${String(epoch).padStart(4, '0')}.png`);
    await writeImageGrid(file, bytes, grid.n, IMAGE_SIZE, { cols: GRID_NOISE });
    await copyFile(file, path.join(options.outDir, 'grid-latest.png'));
    await exportGenerator(options.outDir, models, config, { textDim: dim, encoder: data.vectors.encoderId }, epoch);
  };

  const steps = Math.floor(data.rows.length / config.batchSize);
  if (steps === 0) throw new UsageError(`stage1: ${data.rows.length} training images is fewer than one batch of ${config.batchSize}; lower --batch-size`);
  log(`stage1: ${config.generator} G, ${config.discriminator} D, config ${config.name}, ${store.count().toLocaleString()} parameters, ${data.rows.length} training images, ${steps} steps per epoch, backend ${options.backend}`);
  await trainGan({
    name: 'stage1',
    store,
    gVars: store.trainable('g').concat(store.trainable('ca')),
    dVars: store.trainable('d'),
    schedule: config,
    // What may change between runs of one training: its length, its checkpointing, its learning rate (lowered to resume a diverged run).
    // A retrained sentence encoder makes other vectors of the same captions: another training.
    identity: JSON.stringify({ ...config, epochs: 0, name: '', checkpointEvery: 0, keepCheckpoints: 0, learningRate: 0, dim, encoder: data.vectors.encoderId, images: data.rows.length }),
    rng: new Rng(config.seed ^ 0x51a6e1),
    epochBatches: (rng) => {
      const order = rng.shuffle([...data.rows]);
      return Array.from({ length: steps }, (_, i) => order.slice(i * config.batchSize, (i + 1) * config.batchSize));
    },
    batch: (rows, rng) => ganBatch(data, rows, IMAGE_SIZE, config.captionsPerExample, rng),
    ...stage1Losses(models, config),
    checkpointDir: path.join(options.outDir, 'checkpoints'),
    metrics: new MetricsLog(path.join(options.outDir, 'metrics.jsonl')),
    restart: options.restart,
    minutes: options.minutes,
    onCheckpoint,
    outputs: ['grids', 'grid-latest.png'].map((f) => path.join(options.outDir, f)),
  });
}

/** The Stage I generator, for sampling and for Stage II. */
export async function exportGenerator(outDir: string, models: Stage1Models, config: Stage1Config, text: SentenceSpace, epoch: number): Promise<void> {
  await saveGenerator('stage1', outDir, models.store, { config, textDim: text.textDim, encoder: text.encoder, epoch });
}
