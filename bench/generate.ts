/**
 * What a user of `pnpm t2i generate` waits for: one sentence to 8 images on the chosen backend
 * (wasm: one CPU core), at 64x64 (Stage I; goal under 1 s) and at 256x256 (Stage I + Stage II;
 * goal under 5 s), with the model load and the sentence encoder alone (goal under 100 ms) timed separately. The first call of each size (kernel
 * set-up, weight upload) is shown beside the median of the repeats. Nothing here is a test.
 *   pnpm --filter bench exec tsx generate.ts [--backend wasm] [--n 8] [--repeats 3] [--paper]
 * Models: those generate draws with (trained under data/ or $T2I_ARTIFACTS, else the shipped ones); --paper swaps in untrained generators of
 * the paper's size (stage1 and stage2 configs/full.json), which time the same as trained ones.
 */
import { computeFlags, computeOptions, intFlag, loadConfig, Rng } from '@t2i/core';
import { initBackend } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { loadSentenceEncoder } from 'embeddings';
import os from 'node:os';
import * as stage1 from 'stage1';
import * as stage2 from 'stage2';
import { loadPipeline, locateModels, modelArtifacts, TextToImagePipeline, type Stage } from 't2i';
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
const located = values.paper ? undefined : locateModels(2);
const started = performance.now();
const pipeline = located ? await loadPipeline({ stage: located.stage, source: located.source }) : await paperModels();
const loadMs = performance.now() - started;
const { stage1: g1, stage2: g2 } = pipeline;
const describe1 = `Stage I ${g1.config.generator} G ngf ${g1.config.ngf}`;
const describe2 = g2 ? `Stage II ngf ${g2.config.ngf}, ${g2.config.residualBlocks} residual blocks` : 'no Stage II model';
console.log(`backend ${backend}${conv ? `, ${conv}` : ''}; ${os.cpus()[0]?.model}; ${located?.source.kind ?? 'untrained paper-size'} models: ${describe1}; ${describe2}`);
console.log(`${values.paper ? 'build (encoder load + random init of the generators; not what a load costs)' : 'load (encoder + generators)'}: ${loadMs.toFixed(0)} ms`);

/**
 * Times `call` (given 1, 2, ...: the seed of each): its first call and the median of `repeats` more,
 * printed after `what` against a goal.
 */
async function time(what: string, goalMs: number, call: (seed: number) => Promise<unknown>, digits = 0): Promise<void> {
  const runs: number[] = [];
  for (let seed = 1; seed <= repeats + 1; seed++) {
    const t0 = performance.now();
    await call(seed);
    runs.push(performance.now() - t0);
  }
  const [first, ...rest] = runs;
  const median = rest.sort((a, b) => a - b)[Math.floor(rest.length / 2)];
  console.log(`${what} ${median.toFixed(digits)} ms (median of ${repeats}; first call ${first.toFixed(0)} ms); goal under ${goalMs} ms: ${median < goalMs ? 'met' : 'missed'}`);
}
const images = (stage: Stage) => (seed: number) => pipeline.generate(sentence, { n, seed, stage });

// The sentence encoder alone: its budget is well under 100 ms a sentence.
await time('encode one sentence:', 100, () => pipeline.encode([sentence]), 1);
await time(`64x64 (Stage I): ${n} images in`, 1000, images(1));
if (g2) await time(`256x256 (Stage I + Stage II): ${n} images in`, 5000, images(2));
else console.log(`256x256: no Stage II model (${modelArtifacts().stage2.file}); run \`${modelArtifacts().stage2.makeWith}\`, or pass --paper`);
pipeline.dispose();
