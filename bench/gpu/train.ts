/**
 * Stage I training on the GPU machine, which has neither Node.js nor the dataset: bench/gpu/pack.ts
 * bundles this file with node and packs the training data (travel.ts), bench/gpu/run.sh runs it
 * there. The same trainStage1 as `pnpm --filter stage1 train`, on the same images and caption
 * vectors, for a time budget; its output folder is stage1's (grids, generator, metrics, checkpoints),
 * with the generator stored as float16 at the end (28 MB at full width instead of 56: what comes
 * back from the GPU machine is at most 64 MiB; loadTensors reads it as any other).
 *   node train.mjs --data DIR --out DIR [--minutes 5] [--config full] [--batch-size 64] [--backend webgpu] [--limit N]
 * --limit N trains on the first N images: a quick check of the kit on a machine without a GPU.
 */
import { loadConfig, log, numberFlag, optionalInt } from '@t2i/core';
import { initBackend, tf } from '@t2i/backends';
import { generatorDir, loadTensors, saveTensors } from '@t2i/gan';
import { REFERENCE_CAPTIONS } from 'captions';
import { loadSentenceEncoder } from 'embeddings';
import path from 'node:path';
import { buildStage1, ganData, Stage1Config, trainStage1 } from 'stage1';
import { z } from 'zod';
import { benchFlags } from '../flags.ts';
import { encodeCaptionVectors, readTravelPack } from './travel.ts';

const values = benchFlags(
  'train.mjs',
  'Stage I training on the GPU machine from the packed training set, for a time budget',
  (c) =>
    c
      .requiredOption('--data <dir>', 'what pack.ts wrote to .device/data, unpacked')
      .requiredOption('--out <dir>', "output folder (stage1's layout)")
      .option('--minutes <x>', 'the whole budget, loading included', '5')
      .option('--config <name|file>', 'tiny, full, or a JSON file', 'full')
      .option('--batch-size <n>', 'batch size (overrides the config)')
      .option('--backend <name>', 'webgpu | wasm | cpu', 'webgpu')
      .option('--limit <n>', 'train on the first n images only (a check of the kit on a machine without a GPU)'),
  z.object({ data: z.string(), out: z.string(), minutes: numberFlag((n) => n.positive()), config: z.string(), batchSize: optionalInt, backend: z.string(), limit: optionalInt }),
);
const started = performance.now();
const backend = await initBackend(values.backend);
const config = loadConfig(Stage1Config, 'stage1', values.config, values.batchSize ? { batchSize: values.batchSize } : {}) as Stage1Config;

const { images, captions } = await readTravelPack(path.join(values.data, 'stage1-train.arrow'), values.limit);
const encoder = await loadSentenceEncoder(path.join(values.data, 'encoder'));
// Named by the encoder's training, as embeddings.arrow's are: generate refuses a generator of other vectors.
const vectors = { ...(await encodeCaptionVectors(captions, [...REFERENCE_CAPTIONS], (s) => encoder.encode(s), encoder.dim)), encoderId: encoder.id };
encoder.dispose();
log(`train: ${images.ids.length} images decoded, ${[...captions.values()].reduce((n, c) => n + c.length, 0)} captions encoded in ${((performance.now() - started) / 1000).toFixed(1)} s`);

// What is left of the budget after loading goes to training (at least one epoch runs).
const minutes = Math.max(0, values.minutes - (performance.now() - started) / 60_000);
log(`train: ${minutes.toFixed(2)} of the ${values.minutes} minutes left for training`);
const models = buildStage1(config, vectors.dim);
await trainStage1(models, ganData(images, vectors), config, { outDir: values.out, restart: true, backend: backend.name, minutes });
models.store.dispose();
const { groups, meta } = await loadTensors(generatorDir(values.out));
await saveTensors(generatorDir(values.out), groups, meta, { float16: true });
tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
