import { UsageError, type Rng } from '@t2i/core';
import { tf } from '@t2i/backends';

/** A batch of either stage, as the matching-aware (GAN-CLS) losses take it. */
export type GanBatch = {
  /** Real images with their own captions' vectors: [n, crop, crop, 3] in [-1, 1]. */
  real: tf.Tensor4D;
  /** Images of another class than the caption's (GAN-CLS's mismatched pairs). */
  wrong: tf.Tensor4D;
  text: tf.Tensor2D;
  /** The class of each caption's image as an index over the training classes, [n] int32: what the auxiliary classifier learns. */
  labels?: tf.Tensor1D;
};

/** GAN-CLS pairs every caption with an image of another class, so training needs two classes at least. */
export function requireTwoClasses(classIds: Iterable<number>): void {
  if (new Set(classIds).size < 2) throw new UsageError('GAN training needs images of at least 2 classes (for the mismatched "wrong" pairs)');
}

/** The distinct class ids of the training rows, ascending: the auxiliary classifier's classes, a label being an index here. */
export const trainingClasses = (classIds: Iterable<number>): number[] => [...new Set(classIds)].sort((a, b) => a - b);

/** The labels, [n] int32, of images of these class ids; a class outside `classes` (a test class) is refused. */
export function classLabels(classes: number[], classIds: number[]): tf.Tensor1D {
  const index = new Map(classes.map((c, i) => [c, i]));
  return tf.tensor1d(
    classIds.map((c) => {
      const label = index.get(c);
      if (label === undefined) throw new Error(`class ${c} is not a training class: the auxiliary classifier never sees test classes`);
      return label;
    }),
    'int32',
  );
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
