import { ArtifactError, Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore } from './params.ts';
import type { ReadTensors } from './tensors.ts';

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
 * A generator exported by saveGenerator, read with `read` (files or HTTP) and rebuilt for
 * inference: `build` makes its variables in a fresh store from the saved config, then the saved
 * weights are copied in. One of another layout (an earlier version of t2i) is refused with the
 * command that makes it again.
 */
export async function readGenerator<C, G>(folder: string, read: ReadTensors, makeWith: string, build: (store: ParamStore, config: C, textDim: number) => G): Promise<LoadedGenerator<G, C>> {
  const { groups, meta } = await read(folder);
  const config = meta.config as C;
  const textDim = meta.textDim as number;
  const store = new ParamStore(new Rng(0));
  const generator = build(store, config, textDim);
  const mismatch = store.mismatch(groups.weights);
  if (mismatch) {
    tf.dispose(Object.values(groups.weights));
    store.dispose();
    const name = (config as { name?: string } | undefined)?.name;
    throw new ArtifactError(`${folder} holds a model of another layout (${mismatch}): written by an earlier version of t2i? Make it again: ${makeWith}${name ? ` -- --config ${name}` : ''}`);
  }
  store.load(groups.weights);
  tf.dispose(Object.values(groups.weights));
  return { generator, config, textDim, encoder: meta.encoder as string | undefined, store, epoch: meta.epoch as number, meta };
}
