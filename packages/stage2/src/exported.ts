import { readGenerator, type LoadedGenerator, type ReadTensors, type Scope } from '@t2i/gan';
import type { Generator as Stage1Generator, Stage1Config } from 'stage1';
import type { Stage2Config } from './config.ts';
import { Generator } from './model.ts';

/** The trained Stage I that Stage II refines, as its exported generator loads. */
export type LoadedStage1 = LoadedGenerator<Stage1Generator, Stage1Config>;

/** An exported Stage II generator, with the Stage I it was trained on. */
export type LoadedStage2 = LoadedGenerator<Generator, Stage2Config> & { stage1: { config: Stage1Config; epoch: number } };

/** What makes an exported Stage II generator. */
export const STAGE2_MAKE = 'pnpm --filter stage2 train';

export const buildStage2Generator = (s: Scope, c: Stage2Config, textDim: number): Generator => new Generator(s, c, textDim);

/** A loaded Stage II generator with what its export records of its Stage I. */
export const withStage1 = (loaded: LoadedGenerator<Generator, Stage2Config>): LoadedStage2 => ({ ...loaded, stage1: loaded.meta.stage1 as LoadedStage2['stage1'] });

/** The exported Stage II generator in `folder`, read with `read` (files or HTTP), ready for inference. */
export async function readStage2Generator(folder: string, read: ReadTensors): Promise<LoadedStage2> {
  return withStage1(await readGenerator(folder, read, STAGE2_MAKE, buildStage2Generator));
}

/** Said when a Stage II is used with another Stage I than the one it was trained on: it still works, less well. */
export function otherStage1(stage2: LoadedStage2, stage1: Pick<LoadedStage1, 'config' | 'epoch'>): string | undefined {
  if (stage2.stage1.epoch === stage1.epoch && JSON.stringify(stage2.stage1.config) === JSON.stringify(stage1.config)) return undefined;
  return `Stage II was trained on another Stage I (epoch ${stage2.stage1.epoch}, config ${stage2.stage1.config.name}) than data/stage1 holds (epoch ${stage1.epoch}, config ${stage1.config.name}); retrain stage2 for the best match`;
}
