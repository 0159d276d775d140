import { ArtifactError, requireArtifact, Rng, writeJsonAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';
import path from 'node:path';
import { loadTensors, saveTensors } from './checkpoint.ts';
import { ParamStore } from './params.ts';

export const generatorDir = (outDir: string) => path.join(outDir, 'generator');

/**
 * A GAN stage's generator alone (g/ and its conditioning augmentation ca/, not the discriminator)
 * in <outDir>/generator, for sampling and for the next stage, and the stage's manifest.json:
 * `meta` says what it is.
 */
export async function saveGenerator(stage: 'stage1' | 'stage2', outDir: string, store: ParamStore, meta: { config: unknown; epoch: number } & Record<string, unknown>): Promise<void> {
  const weights = Object.fromEntries([...store.variables].filter(([name]) => name.startsWith('g/') || name.startsWith('ca/')));
  await saveTensors(generatorDir(outDir), { weights }, meta);
  await writeJsonAtomic(path.join(outDir, 'manifest.json'), { stage, ...meta });
}

/**
 * A model exported with saveTensors (a generator, say) rebuilt for inference: `build` makes its
 * variables in a fresh store from the saved config, then the saved weights are copied in.
 */
export async function loadExportedModel<C, M>(dir: string, makeWith: string, build: (store: ParamStore, config: C, meta: Record<string, unknown>) => M) {
  requireArtifact(path.join(dir, 'tensors.json'), makeWith);
  const { groups, meta } = await loadTensors(dir);
  const config = meta.config as C;
  const store = new ParamStore(new Rng(0));
  const model = build(store, config, meta);
  const mismatch = store.mismatch(groups.weights);
  if (mismatch) {
    tf.dispose(Object.values(groups.weights));
    store.dispose();
    const name = (config as { name?: string } | undefined)?.name;
    throw new ArtifactError(`${dir} holds a model of another layout (${mismatch}): written by an earlier version of t2i? Make it again: ${makeWith}${name ? ` -- --config ${name}` : ''}`);
  }
  store.load(groups.weights);
  tf.dispose(Object.values(groups.weights));
  return { model, config, store, meta };
}
