import { augmentRows, UsageError, type Rng } from '@t2i/core';
import { tf } from '@t2i/core/runtime';
import type { CaptionVectors } from 'embeddings';
import type { ImageSet } from 'preprocess-images';

/**
 * Training data for a GAN stage: the training-class images with their caption vectors. Images
 * without vectors (skipped upstream) are left out.
 */
export interface GanData {
  images: ImageSet;
  vectors: CaptionVectors;
  /** Rows of `images` that have caption vectors. */
  rows: number[];
}

/** GAN-CLS pairs every caption with an image of another class, so training needs two classes at least. */
export function requireTwoClasses(classIds: Iterable<number>): void {
  if (new Set(classIds).size < 2) throw new UsageError('GAN training needs images of at least 2 classes (for the mismatched "wrong" pairs)');
}

export function ganData(images: ImageSet, vectors: CaptionVectors): GanData {
  const rows = images.ids.flatMap((id, i) => (vectors.byImage.has(id) ? [i] : []));
  requireTwoClasses(rows.map((r) => images.classIds[r]));
  return { images, vectors, rows };
}

/**
 * The text vector of one training example: the mean of k of its image's caption vectors, drawn
 * afresh each time (GAN-INT's interpolation, as StackGAN and the seed do).
 */
export function averagedCaption(all: Float32Array, dim: number, k: number, rng: Rng): Float32Array {
  const count = all.length / dim;
  const picks = rng.sample(count, Math.min(k, count));
  const out = new Float32Array(dim);
  for (const p of picks) for (let d = 0; d < dim; d++) out[d] += all[p * dim + d] / picks.length;
  return out;
}

export type GanBatch = {
  /** Real images with their own captions' vectors: [n, crop, crop, 3] in [-1, 1]. */
  real: tf.Tensor4D;
  /** Images of another class than the caption's (GAN-CLS's mismatched pairs). */
  wrong: tf.Tensor4D;
  text: tf.Tensor2D;
};

/** Gathers rows of the image set and augments them (random crop, flip, [-1, 1]). */
export function cropBatch(images: ImageSet, rows: number[], crop: number, rng: Rng): tf.Tensor4D {
  return tf.tensor4d(augmentRows(images, rows, { crop, mode: 'random', flip: true }, rng), [rows.length, crop, crop, 3]);
}

export function ganBatch(data: GanData, rows: number[], crop: number, captionsPerExample: number, rng: Rng): GanBatch {
  const { images, vectors } = data;
  const wrongRows = rows.map((r) => {
    for (;;) {
      const w = data.rows[rng.int(data.rows.length)];
      if (images.classIds[w] !== images.classIds[r]) return w;
    }
  });
  const text = new Float32Array(rows.length * vectors.dim);
  rows.forEach((r, i) => text.set(averagedCaption(vectors.byImage.get(images.ids[r])!, vectors.dim, captionsPerExample, rng), i * vectors.dim));
  return {
    real: cropBatch(images, rows, crop, rng),
    wrong: cropBatch(images, wrongRows, crop, rng),
    text: tf.tensor2d(text, [rows.length, vectors.dim]),
  };
}

/** [n, d] standard normal draws from the JS RNG, so a seed gives the same noise on every backend. */
export function normalTensor(rng: Rng, n: number, d: number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: n * d }, () => rng.normal()), [n, d]);
}
