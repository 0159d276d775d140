import { requireArtifact, writeJsonAtomic } from '@t2i/core';
import path from 'node:path';
import { loadTensors, saveTensors } from './checkpoint.ts';
import { readGenerator, type LoadedGenerator } from './exported.ts';
import type { ParamStore } from './params.ts';

export const generatorDir = (outDir: string) => path.join(outDir, 'generator');

/**
 * A StackGAN stage's generator alone (g/ and its conditioning augmentation ca/, not the
 * discriminator) in <outDir>/generator, for drawing images and for Stage II, and the step's
 * manifest.json: `meta` says what it is.
 */
export async function saveGenerator(stage: 'stage1' | 'stage2', outDir: string, store: ParamStore, meta: { config: unknown; epoch: number } & Record<string, unknown>): Promise<void> {
  const weights = Object.fromEntries([...store.variables].filter(([name]) => name.startsWith('g/') || name.startsWith('ca/')));
  await saveTensors(generatorDir(outDir), { weights }, meta);
  await writeJsonAtomic(path.join(outDir, 'manifest.json'), { stage, ...meta });
}

/** readGenerator from files, once its tensors.json is there (else the command that makes it is named). */
export async function loadGenerator<C, G>(dir: string, makeWith: string, build: (store: ParamStore, config: C, textDim: number) => G): Promise<LoadedGenerator<G, C>> {
  requireArtifact(path.join(dir, 'tensors.json'), makeWith);
  return readGenerator(dir, loadTensors, makeWith, build);
}
