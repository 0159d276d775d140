import { ArtifactError, requireArtifact, Rng, writeJsonAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';
import path from 'node:path';
import { loadTensors, saveTensors } from './checkpoint.ts';
import { ParamStore } from './params.ts';

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

/** An exported generator loaded for inference, with what its export records. */
export interface LoadedGenerator<G, C> {
  generator: G;
  config: C;
  /** Size of the sentence vectors it reads. */
  textDim: number;
  /** The encoder training whose sentence vectors it was trained on (embeddings' SentenceSpace.encoder). */
  encoder?: string;
  store: ParamStore;
  epoch: number;
  meta: Record<string, unknown>;
}

/**
 * A generator exported by saveGenerator, rebuilt for inference: `build` makes its variables in a
 * fresh store from the saved config, then the saved weights are copied in. One of another layout
 * (an earlier version of t2i) is refused with the command that makes it again.
 */
export async function loadGenerator<C, G>(dir: string, makeWith: string, build: (store: ParamStore, config: C, textDim: number) => G): Promise<LoadedGenerator<G, C>> {
  requireArtifact(path.join(dir, 'tensors.json'), makeWith);
  const { groups, meta } = await loadTensors(dir);
  const config = meta.config as C;
  const textDim = meta.textDim as number;
  const store = new ParamStore(new Rng(0));
  const generator = build(store, config, textDim);
  const mismatch = store.mismatch(groups.weights);
  if (mismatch) {
    tf.dispose(Object.values(groups.weights));
    store.dispose();
    const name = (config as { name?: string } | undefined)?.name;
    throw new ArtifactError(`${dir} holds a model of another layout (${mismatch}): written by an earlier version of t2i? Make it again: ${makeWith}${name ? ` -- --config ${name}` : ''}`);
  }
  store.load(groups.weights);
  tf.dispose(Object.values(groups.weights));
  return { generator, config, textDim, encoder: meta.encoder as string | undefined, store, epoch: meta.epoch as number, meta };
}
