#!/usr/bin/env tsx
import { loadConfig, numberFlag, optionalInt, parseOptions, runCommand, stepOutput, trainingCommand, trainingFlags } from '@t2i/core';
import { initBackend } from '@t2i/backends';
import { z } from 'zod';
import { EmbeddingsConfig } from './config.ts';
import { runEmbeddings } from './stage.ts';


const Options = z.object({
  ...trainingFlags,
  encoder: z.enum(['joint', 'seq2seq', 'import']).optional(),
  imageEpochs: optionalInt,
  importFile: z.string().optional(),
  textEncoder: z.enum(['cnn', 'cnn-gru']).optional(),
  imageColours: z.boolean().optional(),
  colourLevels: optionalInt,
  captionsFrom: z.enum(['image', 'class']).optional(),
  imagesPerClass: optionalInt,
  colourJitter: numberFlag((n) => n.min(0)).optional(),
  weightAverage: numberFlag((n) => n.min(0)).optional(),
});

const command = trainingCommand(
  'embeddings',
  "Train the sentence encoder (joint text-image by default, or the seed's seq2seq autoencoder), write a vector for every caption and the reference captions, and measure zero-shot accuracy and retrieval on the test classes",
  'embeddings',
  (c) =>
    c
      .option('--encoder <kind>', 'joint | seq2seq | import (overrides the config)')
      .option('--image-epochs <n>', 'seq2seq and import: epochs of the image encoder fitted afterwards (overrides the config)')
      .option('--import-file <file>', 'with --encoder import: Arrow or .npy vectors, images x 10 captions x D')
      .option('--text-encoder <kind>', 'joint: cnn (a word CNN, max over time) | cnn-gru (the CNN read by a GRU) (overrides the config)')
      .option('--image-colours', "joint: the image side also reads the image's colour histograms (overrides the config)")
      .option('--colour-levels <n>', 'with --image-colours: levels of each RGB channel in the histograms, 2 to 8 (default 4: 64 bins)')
      .option('--captions-from <where>', "joint: each pair's captions are the image's own (image) or from random images of its class (class) (overrides the config)")
      .option('--images-per-class <n>', "joint: distinct images of each class in a batch, so that siblings are negatives (default 1)")
      .option('--colour-jitter <f>', "training images' saturation and brightness scaled within 1 +- f, hue kept (default 0)")
      .option('--weight-average <decay>', 'the trained encoder is the moving average of its weights at this decay per step, e.g. 0.998 (default: its last weights)'),
)
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'embeddings');
    const config = loadConfig(EmbeddingsConfig, 'embeddings', o.config, {
      encoder: o.encoder,
      epochs: o.epochs,
      imageEpochs: o.imageEpochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      seed: o.seed,
      importFile: o.importFile,
      textEncoder: o.textEncoder,
      imageColours: o.imageColours,
      colourLevels: o.colourLevels,
      captionsFrom: o.captionsFrom,
      imagesPerClass: o.imagesPerClass,
      colourJitter: o.colourJitter,
      weightAverage: o.weightAverage,
    }) as EmbeddingsConfig;
    const backend = await initBackend(o);
    await runEmbeddings(config, { outDir: await stepOutput('embeddings', o.out), restart: o.restart, backend: backend.name });
  });

await runCommand(command);
