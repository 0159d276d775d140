#!/usr/bin/env tsx
import { loadConfig, optionalInt, parseOptions, requireArtifact, runCommand, stageDir, stageOutput, trainingCommand, trainingFlags } from '@t2i/core';
import { ganFlags, generatorDir } from '@t2i/gan';
import { initBackend } from '@t2i/backends';
import { Command } from 'commander';
import { embeddingsFile, loadCaptionVectors, referenceEmbeddingsFile } from 'embeddings';
import { imagesFile, SOURCE_SIZE } from 'preprocess-images';
import path from 'node:path';
import { loadStage1Generator, sampleCommand } from 'stage1';
import { z } from 'zod';
import { Stage2Config } from './config.ts';
import { openStage2Data } from './data.ts';
import { sampleStage2 } from './sample.ts';
import { buildStage2, trainStage2 } from './train.ts';

const TrainOptions = z.object({
  ...trainingFlags,
  ...ganFlags,
  ngf: optionalInt,
  ndf: optionalInt,
  residualBlocks: optionalInt,
  shuffleRows: optionalInt,
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
      .option('--shuffle-rows <n>', 'images held in memory to draw batches from (overrides the config)'),
  { gan: true },
)
  .action(async (raw) => {
    const o = parseOptions(TrainOptions, raw, 'stage2 train');
    const { config: name, backend: backendName, out, restart, minutes, ...overrides } = o;
    const config = loadConfig(Stage2Config, 'stage2', name, overrides) as Stage2Config;
    // Every upstream artifact is checked before anything slow starts, so a missing one fails at once with the command that makes it.
    const images = requireArtifact(imagesFile(stageDir('preprocess-images'), SOURCE_SIZE.stage2), 'pnpm turbo run preprocess-images');
    for (const file of [embeddingsFile(stageDir('embeddings')), referenceEmbeddingsFile(stageDir('embeddings'))]) requireArtifact(file, 'pnpm turbo run embeddings');
    requireArtifact(path.join(generatorDir(stageDir('stage1')), 'tensors.json'), 'pnpm turbo run stage1');
    const backend = await initBackend(backendName);
    const stage1 = await loadStage1Generator();
    const data = await openStage2Data(images, await loadCaptionVectors());
    const models = buildStage2(config, data.vectors.dim);
    try {
      await trainStage2(models, stage1, data, config, { outDir: await stageOutput('stage2', out), restart, minutes, backend: backend.name });
    } finally {
      await data.stream.close();
    }
    // Not in `finally`: after a wasm abort, freeing tensors fails too and would hide the reason.
    models.store.dispose();
    stage1.store.dispose();
  });

const sample = sampleCommand('stage2', 'Draw 256x256 images for any sentence with the trained Stage I and Stage II generators', sampleStage2);

const program = new Command('stage2').description('StackGAN Stage II: a Stage I image and text to 256x256 images').addCommand(train).addCommand(sample);
await runCommand(program);
