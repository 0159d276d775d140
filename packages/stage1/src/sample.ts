import { ensureOutDir, numberFlag, parseOptions, removeEarlierOutputs, repeatEachRow, Rng, seedFlag, stageDir } from '@t2i/core';
import { generatorDir, loadExportedModel, type ParamStore, toBytes, writeImageGrid, writePng } from '@t2i/gan';
import { initBackend } from '@t2i/backends';
import { Command } from 'commander';
import { logReading, requireOneSentenceSpace, SentenceEncoder } from 'embeddings';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Stage1Config } from './config.ts';
import { buildGenerator, type Generator } from './model.ts';
import { generateStage1, IMAGE_SIZE } from './train.ts';

export interface LoadedGenerator {
  generator: Generator;
  config: Stage1Config;
  textDim: number;
  /** The encoder training whose sentence vectors it was trained on (SentenceSpace's encoder). */
  encoder?: string;
  store: ParamStore;
  epoch: number;
}

/** The exported Stage I generator (data/stage1/generator), ready for inference. */
export async function loadStage1Generator(dir = generatorDir(stageDir('stage1'))): Promise<LoadedGenerator> {
  const { model, config, store, meta } = await loadExportedModel(dir, 'pnpm --filter stage1 train', (s, c: Stage1Config, m) => buildGenerator(s, c, m.textDim as number));
  return { generator: model, config, textDim: meta.textDim as number, encoder: meta.encoder as string | undefined, store, epoch: meta.epoch as number };
}

/** Noise for n images from a seed: the same seed gives the same pictures. */
export function sampleNoise(config: Pick<Stage1Config, 'zDim' | 'conditionDim'>, n: number, seed: number) {
  const rng = new Rng(seed);
  return {
    z: Float32Array.from({ length: n * config.zDim }, () => rng.normal()),
    eps: Float32Array.from({ length: n * config.conditionDim }, () => rng.normal()),
  };
}

/** What sample writes: an earlier run's files of these names in the folder are replaced. */
export const SAMPLE_FILES = /^(image-\d+|all)\.png$/;

/** Any sentence to n 64x64 PNGs (image-1.png ...) and a strip of all of them (all.png). */
export async function sampleStage1(text: string, n: number, seed: number, outDir: string): Promise<{ files: string[]; unknownWords: string[]; ignoredWords: string[] }> {
  const encoder = await SentenceEncoder.load();
  const g = await loadStage1Generator();
  try {
    requireOneSentenceSpace({ encoder: encoder.space, 'Stage I': g }, 'pnpm turbo run stage1');
    const { vectors, unknownWords, ignoredWords } = await encoder.encode([text]);
    const repeated = repeatEachRow(vectors, encoder.dim, n);
    const noise = sampleNoise(g.config, n, seed);
    const images = generateStage1(g.generator, repeated, encoder.dim, noise.z, noise.eps, g.config);
    const bytes = toBytes((await images.data()) as Float32Array);
    images.dispose();
    await mkdir(outDir, { recursive: true });
    const stride = IMAGE_SIZE * IMAGE_SIZE * 3;
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      const file = path.join(outDir, `image-${i + 1}.png`);
      await writePng(file, bytes.subarray(i * stride, (i + 1) * stride), IMAGE_SIZE, IMAGE_SIZE);
      files.push(file);
    }
    files.push(path.join(outDir, 'all.png'));
    await writeImageGrid(files[n], bytes, n, IMAGE_SIZE, { cols: n, cell: 128 });
    await removeEarlierOutputs(outDir, files, SAMPLE_FILES);
    return { files, unknownWords: unknownWords[0], ignoredWords: ignoredWords[0] };
  } finally {
    encoder.dispose();
    g.store.dispose();
  }
}

const SampleOptions = z.object({ text: z.string().trim().min(1, 'is empty; say what the flower looks like'), n: numberFlag((n) => n.int().min(1).max(64)), seed: seedFlag, out: z.string(), backend: z.string().optional() });

/** The `sample` subcommand of both stages' CLIs: a sentence to PNGs with the stage's trained generator. */
export function sampleCommand(stage: string, description: string, sample: typeof sampleStage1): Command {
  return new Command('sample')
    .description(description)
    .requiredOption('--text <sentence>', 'what the flower looks like')
    .option('--n <n>', 'how many images (1-64)', '8')
    .option('--seed <n>', 'noise seed: the same seed gives the same images', '1')
    .option('--out <dir>', 'where the PNGs go', `out/${stage}`)
    .option('--backend <name>', 'tfjs backend (default: the first that loads)')
    .action(async (raw) => {
      const o = parseOptions(SampleOptions, raw, `${stage} sample`);
      const outDir = await ensureOutDir(path.resolve(process.env.INIT_CWD ?? process.cwd(), o.out));
      await initBackend(o.backend);
      const result = await sample(o.text, o.n, o.seed, outDir);
      logReading(result);
      for (const f of result.files) console.log(f);
    });
}
