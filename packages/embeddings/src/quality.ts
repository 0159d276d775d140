import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { imageTensor } from './batches.ts';
import { encodeCaptions } from './encode.ts';
import type { EmbeddingData } from './data.ts';
import type { EncoderModels } from './models.ts';

const CHUNK = 256;
const RANK_CHUNK = 1024;

/** Image vectors (centre crops) of the given image rows, [n, dim]. */
export async function encodeImages(models: EncoderModels, data: EmbeddingData, rows: number[]): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  const rng = new Rng(0);
  for (let i = 0; i < rows.length; i += CHUNK) {
    const v = tf.tidy(() => models.image.encode(imageTensor(data, rows.slice(i, i + CHUNK), 'center', rng)));
    parts.push((await v.data()) as Float32Array);
    v.dispose();
  }
  return concat(parts);
}

/** The sentence vectors of caption rows: imported ones where the data has them, else encoded. */
export async function captionVectors(models: EncoderModels, data: EmbeddingData, rows: number[]): Promise<Float32Array> {
  const imported = data.captions.imported;
  if (!imported) return encodeCaptions(models.text, rows.map((r) => data.captions.tokens[r]));
  const out = new Float32Array(rows.length * imported.dim);
  rows.forEach((r, i) => out.set(imported.vectors.subarray(r * imported.dim, (r + 1) * imported.dim), i * imported.dim));
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}

export interface Quality {
  split: string;
  classes: number;
  images: number;
  captions: number;
  /** Share of images whose nearest class vector (mean of the class's caption vectors) is their class. */
  zeroShotTop1: number;
  /** Share of captions whose own image ranks first / in the top 10 among all images of the split. */
  captionToImageR1: number;
  captionToImageR10: number;
  /** Share of captions whose own image ranks in the top 10 among the images of its own class only. */
  withinClassR10: number;
  /**
   * The R@10 of an encoder that knows each caption's class and nothing else (its class's images
   * first, in chance order): the ceiling of class-level training, and withinClassR10's chance level.
   */
  classOracleR10: number;
  /** Share of captions whose nearest class vector (the normalised mean of the class's image vectors) is their class. */
  captionClassTop1: number;
}

/** The vectors of one split, unit length: images with their class, captions with their image. */
export interface SplitVectors {
  dim: number;
  imageVecs: Float32Array;
  imageClass: ArrayLike<number>;
  textVecs: Float32Array;
  /** For each caption, the index of its image in imageVecs. */
  captionImage: ArrayLike<number>;
}

export type Retrieval = Omit<Quality, 'split' | 'images' | 'captions'>;

/** The sum of the rows of `vectors` [n, dim] in each of `classes` classes, row i in class classOfRow(i): [classes, dim]. */
function sumByClass(vectors: Float32Array, dim: number, classes: number, classOfRow: (i: number) => number): Float32Array {
  const sums = new Float32Array(classes * dim);
  for (let i = 0; i < vectors.length / dim; i++) {
    const c = classOfRow(i);
    for (let d = 0; d < dim; d++) sums[c * dim + d] += vectors[i * dim + d];
  }
  return sums;
}

/** Zero-shot classification and caption-to-image ranks from the vectors alone (dot products are cosines). */
export async function scoreRetrieval(v: SplitVectors): Promise<Retrieval> {
  const { dim, imageClass, captionImage } = v;
  const nImages = imageClass.length;
  const nCaptions = captionImage.length;
  const classes = [...new Set(Array.from(imageClass))].sort((a, b) => a - b);
  // Each image's class as an index into `classes`, and each class's number of images.
  const classOf = Int32Array.from(imageClass, (k) => classes.indexOf(k));
  const classSize = classes.map((_, c) => classOf.filter((k) => k === c).length);
  const classVecs = sumByClass(v.textVecs, dim, classes.length, (i) => classOf[captionImage[i]]);
  const imgs = tf.tensor2d(v.imageVecs, [nImages, dim]);
  const nearestT = tf.tidy(() => imgs.matMul(tf.tensor2d(classVecs, [classes.length, dim]), false, true).argMax(1));
  const nearest = (await nearestT.data()) as Int32Array;
  nearestT.dispose();
  const classImageVecs = sumByClass(v.imageVecs, dim, classes.length, (i) => classOf[i]);
  const captionClassT = tf.tidy(() => {
    const centres = tf.tensor2d(classImageVecs, [classes.length, dim]);
    const unitCentres = centres.div(centres.norm('euclidean', 1, true));
    return tf.tensor2d(v.textVecs, [nCaptions, dim]).matMul(unitCentres, false, true).argMax(1);
  });
  const captionClass = (await captionClassT.data()) as Int32Array;
  captionClassT.dispose();
  const imageClassT = tf.tensor1d(classOf, 'int32');
  // Ranks in chunks of captions: the whole caption x image score matrix of the training split
  // (70k x 7k) would not fit in wasm's 4 GB.
  const rank = new Int32Array(nCaptions);
  const rankInClass = new Int32Array(nCaptions);
  for (let start = 0; start < nCaptions; start += RANK_CHUNK) {
    const end = Math.min(nCaptions, start + RANK_CHUNK);
    const own = Int32Array.from({ length: end - start }, (_, i) => captionImage[start + i]);
    const [all, inClass] = tf.tidy(() => {
      const scores = tf.tensor2d(v.textVecs.subarray(start * dim, end * dim), [end - start, dim]).matMul(imgs, false, true);
      const ownT = tf.tensor1d(own, 'int32');
      const ownScore = scores.mul(tf.oneHot(ownT, nImages)).sum(1, true);
      // Rank of the caption's own image = how many images score strictly higher.
      const higher = scores.greater(ownScore);
      const sameClass = tf.gather(imageClassT, ownT).expandDims(1).equal(imageClassT.expandDims(0));
      return [higher.sum(1), higher.logicalAnd(sameClass).sum(1)];
    });
    rank.set((await all.data()) as Int32Array, start);
    rankInClass.set((await inClass.data()) as Int32Array, start);
    tf.dispose([all, inClass]);
  }
  tf.dispose([imgs, imageClassT]);
  let oracle = 0;
  let captionsRight = 0;
  for (let i = 0; i < nCaptions; i++) {
    const c = classOf[captionImage[i]];
    oracle += Math.min(10, classSize[c]) / classSize[c];
    if (captionClass[i] === c) captionsRight++;
  }
  let correct = 0;
  for (let i = 0; i < nImages; i++) if (nearest[i] === classOf[i]) correct++;
  const share = (r: Int32Array, k: number) => r.filter((x) => x < k).length / nCaptions;
  return {
    classes: classes.length,
    zeroShotTop1: correct / nImages,
    captionToImageR1: share(rank, 1),
    captionToImageR10: share(rank, 10),
    withinClassR10: share(rankInClass, 10),
    classOracleR10: oracle / nCaptions,
    captionClassTop1: captionsRight / nCaptions,
  };
}

/**
 * Reed et al.'s zero-shot protocol and caption-to-image retrieval, on one split (the test classes,
 * never seen in training).
 */
export async function measureQuality(models: EncoderModels, data: EmbeddingData, split: 'train' | 'test'): Promise<Quality> {
  const imageRows = data.images.splits.flatMap((s, i) => (s === split ? [i] : []));
  const captionRows = Array.from(data.captions.image.keys()).filter((r) => data.images.splits[data.captions.image[r]] === split);
  const rowOfImage = new Map(imageRows.map((r, i) => [r, i]));
  const retrieval = await scoreRetrieval({
    dim: models.dim,
    imageVecs: await encodeImages(models, data, imageRows),
    imageClass: imageRows.map((r) => data.images.classIds[r]),
    textVecs: await captionVectors(models, data, captionRows),
    captionImage: captionRows.map((r) => rowOfImage.get(data.captions.image[r])!),
  });
  return { split, images: imageRows.length, captions: captionRows.length, ...retrieval };
}
