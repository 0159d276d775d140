import { augmentRows, type Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { averagedCaption, classLabels, requireTwoClasses, trainingClasses, type GanBatch } from '@t2i/gan';
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
  /** The training classes' dataset ids, ascending: a class's label is its index here. */
  classes: number[];
}

export function ganData(images: ImageSet, vectors: CaptionVectors): GanData {
  const rows = images.ids.flatMap((id, i) => (vectors.byImage.has(id) && images.splits[i] === 'train' ? [i] : []));
  requireTwoClasses(rows.map((r) => images.classIds[r]));
  return { images, vectors, rows, classes: trainingClasses(rows.map((r) => images.classIds[r])) };
}

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
    labels: classLabels(data.classes, rows.map((r) => images.classIds[r])),
  };
}

