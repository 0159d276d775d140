import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { writeImageGrid } from './images.ts';
import { ParamStore } from './params.ts';
import { MetricsLog } from './training.ts';

/** A GAN's two networks in one store: the generator under g/ (and its conditioning augmentation, ca/), the discriminator under d/. */
export interface GanModels<G, D> {
  store: ParamStore;
  generator: G;
  discriminator: D;
}

/** Both networks from one seed, the generator's variables made first. */
export function buildGan<G, D>(seed: number, build: (store: ParamStore) => { generator: G; discriminator: D }): GanModels<G, D> {
  const store = new ParamStore(new Rng(seed));
  return { store, ...build(store) };
}

/** What each network's optimizer updates. */
export const networkVariables = (store: ParamStore): { gVars: tf.Variable[]; dVars: tf.Variable[] } => ({
  gVars: store.trainable('g').concat(store.trainable('ca')),
  dVars: store.trainable('d'),
});

/** Where a GAN's training run writes under its output folder, beside the exported generator. */
export function runFiles(outDir: string) {
  return {
    checkpointDir: path.join(outDir, 'checkpoints'),
    metrics: new MetricsLog(path.join(outDir, 'metrics.jsonl')),
    // Moved aside with the checkpoints when a run starts afresh.
    outputs: ['grids', 'grid-latest.png', 'trained'].map((f) => path.join(outDir, f)),
  };
}

/** With a weight average, where the generator's trained weights are exported beside the average, for comparison: <outDir>/trained/generator. */
export const trainedOutDir = (outDir: string) => path.join(outDir, 'trained');

/** A checkpoint's grid of generated images, grids/epoch-NNNN.png, copied to grid-latest.png. */
export async function writeEpochGrid(outDir: string, epoch: number, pixels: Uint8Array, count: number, size: number, cols: number): Promise<void> {
  const file = path.join(outDir, 'grids', `epoch-${String(epoch).padStart(4, '0')}.png`);
  await writeImageGrid(file, pixels, count, size, { cols });
  await copyFile(file, path.join(outDir, 'grid-latest.png'));
}
