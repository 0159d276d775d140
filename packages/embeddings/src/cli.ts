#!/usr/bin/env tsx
import { loadConfig, parseOptions, runMain, stageCommand, stageDir } from '@t2i/core';
import { initBackend } from '@t2i/core/runtime';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { EmbeddingsConfig } from './config.ts';
import { runEmbeddings } from './stage.ts';

const configsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'configs');
const num = z.coerce.number().optional();

const Options = z.object({
  config: z.string(),
  encoder: z.enum(['joint', 'seq2seq', 'import']).optional(),
  epochs: z.coerce.number().int().optional(),
  imageEpochs: z.coerce.number().int().optional(),
  batchSize: z.coerce.number().int().optional(),
  learningRate: num,
  seed: z.coerce.number().int().optional(),
  importFile: z.string().optional(),
  backend: z.string().optional(),
  out: z.string().optional(),
  restart: z.boolean(),
});

const command = stageCommand('embeddings', 'Train the sentence encoder (joint text-image by default, or the seed\'s seq2seq autoencoder), write a vector for every caption and the reference captions, and measure zero-shot accuracy and retrieval on the test classes')
  .option('--config <name|file>', 'tiny (a CPU demo on the sample), full, or a JSON file; $T2I_CONFIG', process.env.T2I_CONFIG ?? 'tiny')
  .option('--encoder <kind>', 'joint | seq2seq | import (overrides the config)')
  .option('--epochs <n>', 'training epochs (overrides the config)')
  .option('--image-epochs <n>', 'seq2seq and import: epochs of the image encoder fitted afterwards (overrides the config)')
  .option('--batch-size <n>', 'batch size (overrides the config)')
  .option('--learning-rate <x>', 'Adam learning rate (overrides the config)')
  .option('--seed <n>', 'random seed (overrides the config)')
  .option('--import-file <file>', 'with --encoder import: Arrow or .npy vectors, images x 10 captions x D')
  .option('--backend <name>', 'tensorflow-gpu | tensorflow | webgpu | wasm | cpu (default: the first that loads; $T2I_BACKEND)')
  .option('--out <dir>', 'output folder (default: data/embeddings)')
  .option('--restart', 'ignore existing checkpoints and train from scratch', false)
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'embeddings');
    const config = loadConfig(EmbeddingsConfig, configsDir, o.config, {
      encoder: o.encoder,
      epochs: o.epochs,
      imageEpochs: o.imageEpochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      seed: o.seed,
      importFile: o.importFile,
    }) as EmbeddingsConfig;
    const backend = await initBackend(o.backend);
    await runEmbeddings(config, { outDir: o.out ?? stageDir('embeddings'), restart: o.restart, backend: backend.name });
  });

await runMain(() => command.parseAsync().then(() => undefined));
