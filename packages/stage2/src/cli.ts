#!/usr/bin/env tsx
import { loadConfig, numberFlag, optionalInt, parseOptions, requireArtifact, runCommand, stepDir, stepOutput, trainingCommand, trainingFlags } from '@t2i/core';
import { ganFlags, generatorDir, loadGenerator } from '@t2i/gan';
import { initBackend } from '@t2i/backends';
import { Command } from 'commander';
import { embeddingsFile, loadCaptionVectors, referenceEmbeddingsFile } from 'embeddings';
import { imagesFile, SOURCE_SIZE } from 'preprocess-images';
import path from 'node:path';
import { buildGenerator, type Stage1Config } from 'stage1';
import { z } from 'zod';
import { Stage2Config } from './config.ts';
import { openStage2Data } from './data.ts';
import { buildStage2, trainStage2 } from './train.ts';

const TrainOptions = z.object({
  ...trainingFlags,
  ...ganFlags,
  ngf: optionalInt,
  ndf: optionalInt,
  residualBlocks: optionalInt,
  shuffleRows: optionalInt,
  inputSkip: z.boolean().optional(),
  detailOnly: z.boolean().optional(),
  projectWhenDrawing: z.boolean().optional(),
  consistencyWeight: numberFlag((n) => n.min(0)).optional(),
  upsamplerWeight: numberFlag((n) => n.min(0)).optional(),
});

const train = trainingCommand(
  'train',
  'Train the Stage II GAN (256x256) on a frozen Stage I, streaming the 304x304 training images; resumes from the last checkpoint in data/stage2/checkpoints',
  'stage2',
  (c) =>
    c
      .option('--ngf <n>', 'generator width, a multiple of 4 (overrides the config)')
      .option('--ndf <n>', 'discriminator width (overrides the config)')
      .option('--residual-blocks <n>', 'residual blocks in the generator (overrides the config)')
      .option('--shuffle-rows <n>', 'images held in memory to draw batches from (overrides the config)')
      .option('--input-skip', "start from Stage I's image upscaled and learn a correction to it (a departure from StackGAN; overrides the config)")
      .option('--no-input-skip', 'the paper\'s generator, without the input skip (overrides the config)')
      .option('--detail-only', "the input skip, with a correction that keeps Stage I's image exactly at 64 px and can only add finer detail (a departure; overrides the config)")
      .option('--no-detail-only', 'a correction free to change what Stage I drew (overrides the config)')
      .option('--project-when-drawing', "images drawn (grids, evaluate, generate, the page) are moved onto their Stage I image at 64 px; training is unchanged (a departure; overrides the config)")
      .option('--no-project-when-drawing', "images drawn as the generator makes them (overrides the config)")
      .option('--consistency-weight <w>', "weight of the L1 term keeping Stage II's image, box-filtered to 64, near its Stage I image (overrides the config)")
      .option('--upsampler-weight <w>', 'weight of the L1 term upsampling real images box-filtered to 64 back to themselves (overrides the config)'),
  { gan: true },
)
  .action(async (raw) => {
    const o = parseOptions(TrainOptions, raw, 'stage2 train');
    const { config: name, backend: backendName, threads, conv, out, restart, minutes, ...overrides } = o;
    const config = loadConfig(Stage2Config, 'stage2', name, overrides) as Stage2Config;
    // Every upstream artifact is checked before anything slow starts, so a missing one fails at once with the command that makes it.
    const images = requireArtifact(imagesFile(stepDir('preprocess-images'), SOURCE_SIZE.stage2), 'pnpm turbo run preprocess-images');
    for (const file of [embeddingsFile(stepDir('embeddings')), referenceEmbeddingsFile(stepDir('embeddings'))]) requireArtifact(file, 'pnpm turbo run embeddings');
    requireArtifact(path.join(generatorDir(stepDir('stage1')), 'tensors.json'), 'pnpm turbo run stage1');
    const backend = await initBackend({ backend: backendName, threads, conv });
    const stage1 = await loadGenerator(generatorDir(stepDir('stage1')), 'pnpm --filter stage1 train', (s, c: Stage1Config, textDim) => buildGenerator(s, c, textDim));
    const data = await openStage2Data(images, await loadCaptionVectors());
    const models = buildStage2(config, data.vectors.dim, data.classes.length);
    try {
      await trainStage2(models, stage1, data, config, { outDir: await stepOutput('stage2', out), restart, minutes, backend: backend.name });
    } finally {
      await data.stream.close();
    }
    // Not in `finally`: after a wasm abort, freeing tensors fails too and would hide the reason.
    models.store.dispose();
    stage1.store.dispose();
  });

// Drawing images for a sentence with the trained generators: `pnpm t2i sample --stage 2` (packages/t2i).
const program = new Command('stage2').description('StackGAN Stage II: a Stage I image and text to 256x256 images').addCommand(train);
await runCommand(program);
