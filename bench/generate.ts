/**
 * What a user of `pnpm t2i generate` waits for: one sentence to 8 images on the chosen backend
 * (wasm: one CPU core), at 64x64 (Stage I; goal under 1 s) and at 256x256 (Stage I + Stage II;
 * goal under 5 s), with the model load timed separately. The first call of each size (kernel
 * set-up, weight upload) is shown beside the median of the repeats. Nothing here is a test.
 *   pnpm --filter bench exec tsx generate.ts [--backend wasm] [--n 8] [--repeats 3] [--paper]
 * Models: the trained ones under data/ ($T2I_ARTIFACTS); --paper swaps in untrained generators of
 * the paper's size (stage1 and stage2 configs/full.json), which time the same as trained ones.
 */
import { computeFlags, computeOptions, intFlag, loadConfig, Rng } from '@t2i/core';
import { initBackend } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { loadSentenceEncoder } from 'embeddings';
import { existsSync } from 'node:fs';
import os from 'node:os';
import * as stage1 from 'stage1';
import * as stage2 from 'stage2';
import { loadPipeline, modelArtifacts, TextToImagePipeline, type Stage } from 't2i';
import { z } from 'zod';
import { benchFlags } from './flags.ts';

const values = benchFlags(
  'generate.ts',
  'What `pnpm t2i generate` waits for: one sentence to n images at 64x64 and at 256x256, model load timed apart',
  (c) =>
    computeOptions(c)
      .option('--n <n>', 'images per sentence', '8')
      .option('--repeats <n>', 'timed calls of each size after the first', '3')
      .option('--paper', "untrained generators of the paper's size in place of the trained ones", false),
  z.object({ ...computeFlags, n: intFlag(), repeats: intFlag(), paper: z.boolean() }),
);
const { n, repeats } = values;
const sentence = 'this flower has petals that are blue and white';

/** Untrained Stage I and Stage II generators of the paper's size, fed by the trained sentence encoder. */
async function paperModels(): Promise<TextToImagePipeline> {
  const encoder = await loadSentenceEncoder();
  const textDim = encoder.dim;
  const c1 = loadConfig(stage1.Stage1Config, 'stage1', 'full') as stage1.Stage1Config;
  const c2 = loadConfig(stage2.Stage2Config, 'stage2', 'full') as stage2.Stage2Config;
  const s1 = new ParamStore(new Rng(1));
  const s2 = new ParamStore(new Rng(2));
  const g1 = { generator: stage1.buildGenerator(s1, c1, textDim), config: c1, textDim, store: s1, epoch: 0, meta: {} };
  const g2 = { generator: new stage2.Generator(s2, c2, textDim), config: c2, textDim, store: s2, epoch: 0, meta: {}, stage1: { config: c1, epoch: 0 } };
  return new TextToImagePipeline(g1, g2, encoder);
}

const { name: backend, conv } = await initBackend(values);
const stage = existsSync(modelArtifacts().stage2.file) || values.paper ? 2 : 1;
let started = performance.now();
const pipeline = values.paper ? await paperModels() : await loadPipeline({ stage });
const loadMs = performance.now() - started;
const { stage1: g1, stage2: g2 } = pipeline;
const describe1 = `Stage I ${g1.config.generator} G ngf ${g1.config.ngf}`;
const describe2 = g2 ? `Stage II ngf ${g2.config.ngf}, ${g2.config.residualBlocks} residual blocks` : 'no Stage II model';
console.log(`backend ${backend}${conv ? `, ${conv}` : ''}; ${os.cpus()[0]?.model}; ${values.paper ? 'untrained paper-size' : 'trained'} models: ${describe1}; ${describe2}`);
console.log(`${values.paper ? 'build (encoder load + random init of the generators; not what a load costs)' : 'load (encoder + generators)'}: ${loadMs.toFixed(0)} ms`);

async function time(label: string, stage: Stage, goalMs: number): Promise<void> {
  const runs: number[] = [];
  for (let r = 0; r <= repeats; r++) {
    started = performance.now();
    await pipeline.generate(sentence, { n, seed: r + 1, stage });
    runs.push(performance.now() - started);
  }
  const [first, ...rest] = runs;
  const median = rest.sort((a, b) => a - b)[Math.floor(rest.length / 2)];
  console.log(`${label}: ${n} images in ${median.toFixed(0)} ms (median of ${repeats}; first call ${first.toFixed(0)} ms); goal under ${goalMs} ms: ${median < goalMs ? 'met' : 'missed'}`);
}

await time('64x64 (Stage I)', 1, 1000);
if (g2) await time('256x256 (Stage I + Stage II)', 2, 5000);
else console.log(`256x256: no Stage II model (${modelArtifacts().stage2.file}); run \`${modelArtifacts().stage2.makeWith}\`, or pass --paper`);
pipeline.dispose();
