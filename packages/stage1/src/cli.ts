#!/usr/bin/env tsx
import { loadConfig, parseOptions, runMain, stageCommand, stageDir } from '@t2i/core';
import { initBackend } from '@t2i/core/runtime';
import { Command } from 'commander';
import { loadCaptionVectors } from 'embeddings';
import { loadImageSet } from 'preprocess-images';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { Stage1Config } from './config.ts';
import { ganData } from './data.ts';
import { sampleCommand, sampleStage1 } from './sample.ts';
import { buildStage1, trainStage1 } from './train.ts';

const configsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs');
const int = z.coerce.number().int().optional();

const TrainOptions = z.object({
  config: z.string(),
  generator: z.enum(['simple', 'complex']).optional(),
  discriminator: z.enum(['simple', 'complex']).optional(),
  ngf: int,
  ndf: int,
  batchSize: int,
  epochs: int,
  learningRate: z.coerce.number().optional(),
  checkpointEvery: int,
  seed: int,
  backend: z.string().optional(),
  out: z.string().optional(),
  restart: z.boolean(),
  minutes: z.coerce.number().positive().optional(),
});

const train = stageCommand('train', 'Train the Stage I GAN (64x64) on the training classes; resumes from the last checkpoint in data/stage1/checkpoints')
  .option('--config <name|file>', 'tiny (a CPU demo on the sample), full (the paper\'s), or a JSON file; $T2I_CONFIG', process.env.T2I_CONFIG ?? 'tiny')
  .option('--generator <kind>', 'simple | complex (overrides the config)')
  .option('--discriminator <kind>', 'simple | complex (overrides the config)')
  .option('--ngf <n>', 'generator width (overrides the config)')
  .option('--ndf <n>', 'discriminator width (overrides the config)')
  .option('--batch-size <n>', 'batch size (overrides the config)')
  .option('--epochs <n>', 'total epochs (overrides the config; raise it to train on from a checkpoint)')
  .option('--learning-rate <x>', 'initial Adam learning rate for G and D (overrides the config)')
  .option('--checkpoint-every <n>', 'epochs between checkpoints and grids (overrides the config)')
  .option('--seed <n>', 'random seed (overrides the config)')
  .option('--backend <name>', 'tensorflow-gpu | tensorflow | webgpu | wasm | cpu (default: the first that loads; $T2I_BACKEND)')
  .option('--out <dir>', 'output folder (default: data/stage1)')
  .option('--restart', 'ignore existing checkpoints and train from scratch', false)
  .option('--minutes <n>', 'stop, with a checkpoint, after the last epoch expected to end within this many minutes (resume by running again)')
  .action(async (raw) => {
    const o = parseOptions(TrainOptions, raw, 'stage1 train');
    const { config: name, backend: backendName, out, restart, minutes, ...overrides } = o;
    const config = loadConfig(Stage1Config, configsDir, name, overrides) as Stage1Config;
    const backend = await initBackend(backendName);
    // Vectors first: when they are missing, the command that makes them (turbo run embeddings)
    // also makes every artifact upstream, the images included.
    const vectors = await loadCaptionVectors();
    const data = ganData(await loadImageSet(76, (split) => split === 'train'), vectors);
    const { store, ...rest } = buildStage1(config, data.vectors.dim);
    await trainStage1({ store, ...rest }, data, config, { outDir: out ?? stageDir('stage1'), restart, minutes, backend: backend.name });
    store.dispose();
  });

const sample = sampleCommand('stage1', 'Draw 64x64 images for any sentence with the trained Stage I generator', sampleStage1);

const program = new Command('stage1').description('StackGAN Stage I: text to 64x64 images').addCommand(train).addCommand(sample);
await runMain(() => program.parseAsync().then(() => undefined));
