import { log, removeEarlierOutputs, repeatEachRow, Rng, stageDir } from '@t2i/core';
import { generatorDir, loadExportedModel, type ParamStore, writeImageGrid, writePng } from '@t2i/gan';
import { requireOneSentenceSpace, SentenceEncoder } from 'embeddings';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadStage1Generator, SAMPLE_FILES, sampleNoise, type LoadedGenerator, type Stage1Config } from 'stage1';
import type { Stage2Config } from './config.ts';
import { Generator } from './model.ts';
import { generatePairs, IMAGE_SIZE } from './train.ts';

export interface LoadedStage2 {
  generator: Generator;
  config: Stage2Config;
  textDim: number;
  /** The encoder training whose sentence vectors it was trained on (SentenceSpace's encoder). */
  encoder?: string;
  store: ParamStore;
  epoch: number;
  /** The Stage I it was trained on. */
  stage1: { config: Stage1Config; epoch: number };
}

/** The exported Stage II generator (data/stage2/generator), ready for inference. */
export async function loadStage2Generator(dir = generatorDir(stageDir('stage2'))): Promise<LoadedStage2> {
  const { model, config, store, meta } = await loadExportedModel(dir, 'pnpm --filter stage2 train', (s, c: Stage2Config, m) => new Generator(s, c, m.textDim as number));
  return { generator: model, config, textDim: meta.textDim as number, encoder: meta.encoder as string | undefined, store, epoch: meta.epoch as number, stage1: meta.stage1 as LoadedStage2['stage1'] };
}

/** Said when a Stage II is used with another Stage I than the one it was trained on: it still works, less well. */
export function otherStage1(stage2: LoadedStage2, stage1: LoadedGenerator): string | undefined {
  if (stage2.stage1.epoch === stage1.epoch && JSON.stringify(stage2.stage1.config) === JSON.stringify(stage1.config)) return undefined;
  return `Stage II was trained on another Stage I (epoch ${stage2.stage1.epoch}, config ${stage2.stage1.config.name}) than data/stage1 holds (epoch ${stage1.epoch}, config ${stage1.config.name}); retrain stage2 for the best match`;
}

/**
 * Any sentence to n 256x256 PNGs (image-1.png ...) through Stage I and Stage II, and all.png:
 * Stage I's images (upscaled) above Stage II's. A seed gives the Stage I images that
 * `stage1 sample` gives for it.
 */
export async function sampleStage2(text: string, n: number, seed: number, outDir: string): Promise<{ files: string[]; unknownWords: string[]; ignoredWords: string[] }> {
  const encoder = await SentenceEncoder.load();
  const g1 = await loadStage1Generator();
  const g2 = await loadStage2Generator();
  try {
    requireOneSentenceSpace({ encoder: encoder.space, 'Stage I': g1, 'Stage II': g2 }, 'pnpm turbo run stage2');
    const mismatch = otherStage1(g2, g1);
    if (mismatch) log(`stage2 sample: ${mismatch}`);
    const { vectors, unknownWords, ignoredWords } = await encoder.encode([text]);
    const repeated = repeatEachRow(vectors, encoder.dim, n);
    const { z, eps } = sampleNoise(g1.config, n, seed);
    const pairs = await generatePairs(g1, g2.generator, g2.config.conditionDim, repeated, { z, eps1: eps, eps2: stage2Noise(g2.config.conditionDim, n, seed) });
    await mkdir(outDir, { recursive: true });
    const stride = IMAGE_SIZE * IMAGE_SIZE * 3;
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      const file = path.join(outDir, `image-${i + 1}.png`);
      await writePng(file, pairs.stage2.subarray(i * stride, (i + 1) * stride), IMAGE_SIZE, IMAGE_SIZE);
      files.push(file);
    }
    const both = new Uint8Array(2 * n * stride);
    both.set(pairs.stage1);
    both.set(pairs.stage2, n * stride);
    files.push(path.join(outDir, 'all.png'));
    await writeImageGrid(files[n], both, 2 * n, IMAGE_SIZE, { cols: n });
    await removeEarlierOutputs(outDir, files, SAMPLE_FILES);
    return { files, unknownWords: unknownWords[0], ignoredWords: ignoredWords[0] };
  } finally {
    encoder.dispose();
    g1.store.dispose();
    g2.store.dispose();
  }
}

/** Stage II's conditioning noise for n images from a seed, apart from Stage I's (sampleNoise) so both are reproducible. */
export function stage2Noise(conditionDim: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed ^ 0x5eed2);
  return Float32Array.from({ length: n * conditionDim }, () => rng.normal());
}
