#!/usr/bin/env tsx
import { loadConfig, optionalInt, parseOptions, runCommand, stepOutput, trainingCommand, trainingFlags } from '@t2i/core';
import { ganFlags } from '@t2i/gan';
import { initBackend } from '@t2i/backends';
import { Command } from 'commander';
import { loadCaptionVectors } from 'embeddings';
import { loadImageSet, SOURCE_SIZE } from 'preprocess-images';
import { z } from 'zod';
import { Stage1Config } from './config.ts';
import { ganData } from './data.ts';
import { buildStage1, trainStage1 } from './train.ts';


const TrainOptions = z.object({
  ...trainingFlags,
  ...ganFlags,
  generator: z.enum(['simple', 'complex']).optional(),
  discriminator: z.enum(['simple', 'complex']).optional(),
  ngf: optionalInt,
  ndf: optionalInt,
});

const train = trainingCommand(
  'train',
  'Train the Stage I GAN (64x64) on the training classes; resumes from the last checkpoint in data/stage1/checkpoints',
  'stage1',
  (c) =>
    c
      .option('--generator <kind>', 'simple | complex (overrides the config)')
      .option('--discriminator <kind>', 'simple | complex (overrides the config)')
      .option('--ngf <n>', 'generator width (overrides the config)')
      .option('--ndf <n>', 'discriminator width (overrides the config)'),
  { gan: true },
)
  .action(async (raw) => {
    const o = parseOptions(TrainOptions, raw, 'stage1 train');
    const { config: name, backend: backendName, threads, conv, out, restart, minutes, ...overrides } = o;
    const config = loadConfig(Stage1Config, 'stage1', name, overrides) as Stage1Config;
    const backend = await initBackend({ backend: backendName, threads, conv });
    // Vectors first: when they are missing, the command that makes them (turbo run embeddings)
    // also makes every artifact upstream, the images included.
    const vectors = await loadCaptionVectors();
    const data = ganData(await loadImageSet(SOURCE_SIZE.stage1, (split) => split === 'train'), vectors);
    const { store, ...rest } = buildStage1(config, data.vectors.dim, data.classes.length);
    await trainStage1({ store, ...rest }, data, config, { outDir: await stepOutput('stage1', out), restart, minutes, backend: backend.name });
    store.dispose();
  });

// Drawing images for a sentence with the trained generator: `pnpm t2i sample --stage 1` (packages/t2i).
const program = new Command('stage1').description('StackGAN Stage I: text to 64x64 images').addCommand(train);
await runCommand(program);
