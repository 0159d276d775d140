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
}

/**
 * Reed et al.'s zero-shot protocol and caption-to-image retrieval, on one split (the test classes,
 * never seen in training). Vectors are unit length, so dot products are cosines.
 */
export async function measureQuality(models: EncoderModels, data: EmbeddingData, split: 'train' | 'test'): Promise<Quality> {
  const imageRows = data.images.splits.flatMap((s, i) => (s === split ? [i] : []));
  const captionRows = Array.from(data.captions.image.keys()).filter((r) => data.images.splits[data.captions.image[r]] === split);
  const dim = models.dim;
  const imageVecs = await encodeImages(models, data, imageRows);
  const textVecs = await captionVectors(models, data, captionRows);
  const rowOfImage = new Map(imageRows.map((r, i) => [r, i]));

  const classes = [...new Set(imageRows.map((r) => data.images.classIds[r]))].sort((a, b) => a - b);
  const classVecs = new Float32Array(classes.length * dim);
  captionRows.forEach((r, i) => {
    const c = classes.indexOf(data.images.classIds[data.captions.image[r]]);
    for (let d = 0; d < dim; d++) classVecs[c * dim + d] += textVecs[i * dim + d];
  });
  const imgs = tf.tensor2d(imageVecs, [imageRows.length, dim]);
  const nearestT = tf.tidy(() => imgs.matMul(tf.tensor2d(classVecs, [classes.length, dim]), false, true).argMax(1));
  const nearest = (await nearestT.data()) as Int32Array;
  nearestT.dispose();
  // Ranks in chunks of captions: the whole caption x image score matrix of the training split
  // (70k x 7k) would not fit in wasm's 4 GB.
  const rank = new Int32Array(captionRows.length);
  for (let start = 0; start < captionRows.length; start += RANK_CHUNK) {
    const rows = captionRows.slice(start, start + RANK_CHUNK);
    const part = tf.tidy(() => {
      const scores = tf.tensor2d(textVecs.subarray(start * dim, (start + rows.length) * dim), [rows.length, dim]).matMul(imgs, false, true);
      const own = tf.tensor1d(rows.map((r) => rowOfImage.get(data.captions.image[r])!), 'int32');
      const ownScore = scores.mul(tf.oneHot(own, imageRows.length)).sum(1, true);
      // Rank of the caption's own image = how many images score strictly higher.
      return scores.greater(ownScore).sum(1);
    });
    rank.set((await part.data()) as Int32Array, start);
    part.dispose();
  }
  imgs.dispose();
  const correct = imageRows.filter((r, i) => classes[nearest[i]] === data.images.classIds[r]).length;
  return {
    split,
    classes: classes.length,
    images: imageRows.length,
    captions: captionRows.length,
    zeroShotTop1: correct / imageRows.length,
    captionToImageR1: rank.filter((k) => k < 1).length / rank.length,
    captionToImageR10: rank.filter((k) => k < 10).length / rank.length,
  };
}
