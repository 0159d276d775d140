import { augmentRows, UsageError, type Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { UNK } from 'captions';
import { decoderTensors, IMAGE_SIZE, type EmbeddingData } from './data.ts';
import { tokenTensor } from './encode.ts';

export const CROP = 64;

/** Training-split indices: image rows by class, and caption rows by image. */
export interface TrainIndex {
  classes: number[];
  imagesByClass: Map<number, number[]>;
  captionsByImage: Map<number, number[]>;
  trainImages: number;
}

export function indexTraining(data: EmbeddingData): TrainIndex {
  const imagesByClass = new Map<number, number[]>();
  data.images.splits.forEach((split, i) => {
    if (split !== 'train') return;
    const c = data.images.classIds[i];
    if (!imagesByClass.has(c)) imagesByClass.set(c, []);
    imagesByClass.get(c)!.push(i);
  });
  const captionsByImage = new Map<number, number[]>();
  data.captions.image.forEach((img, row) => {
    if (!captionsByImage.has(img)) captionsByImage.set(img, []);
    captionsByImage.get(img)!.push(row);
  });
  const classes = [...imagesByClass.keys()].sort((a, b) => a - b);
  if (classes.length < 2) throw new UsageError(`embeddings: training needs images of at least 2 training classes, found ${classes.length}`);
  return { classes, imagesByClass, captionsByImage, trainImages: [...imagesByClass.values()].reduce((n, l) => n + l.length, 0) };
}

/** Replaces tokens by <unk> with probability p, so that <unk> learns a meaning. */
export function dropWords(tokens: Int32Array, p: number, unk: number, rng: Rng): Int32Array {
  if (p === 0) return tokens;
  return tokens.map((t) => (rng.next() < p ? unk : t));
}

export interface JointBatchOptions {
  /** Pairs in the batch. */
  size: number;
  wordDropout: number;
  /** Captions of each pair, averaged by the text side. */
  captionsPerImage: number;
  /** image: the image's own captions; class: captions of random images of its class. */
  captionsFrom: 'image' | 'class';
  /** Distinct images of each class in the batch: 1 keeps other classes as the only negatives. */
  imagesPerClass: number;
  /** Colour jitter of the images (augmentBatch's). */
  colourJitter: number;
}

/**
 * One contrastive batch: `size / imagesPerClass` distinct training classes, `imagesPerClass`
 * distinct random images of each (one: no image of the pair's class is a negative; more: its
 * siblings are, which is what telling one image from its siblings needs), randomly cropped,
 * flipped and jittered, and `captionsPerImage` captions for each (`tokens` holds them image by
 * image: rows i * captionsPerImage ... are image i's): distinct captions of the image itself, or
 * with captionsFrom 'class', one random caption each of random images of its class, whose mean is
 * closer to the class's mean caption (what zero-shot classification ranks against).
 */
export function jointBatch(data: EmbeddingData, index: TrainIndex, options: JointBatchOptions, rng: Rng) {
  const { captionsPerImage, imagesPerClass } = options;
  const classes = rng.sample(index.classes.length, Math.min(Math.ceil(options.size / imagesPerClass), index.classes.length)).map((i) => index.classes[i]);
  const pick = (list: number[]) => list[rng.int(list.length)];
  const images = classes.flatMap((c) => {
    const list = index.imagesByClass.get(c)!;
    // One image is drawn with pick, as before the switch existed, so that earlier runs replay.
    return imagesPerClass === 1 ? [pick(list)] : rng.sample(list.length, Math.min(imagesPerClass, list.length)).map((i) => list[i]);
  });
  const unk = data.vocab.id(UNK);
  const captionRows = images.flatMap((img) => {
    if (options.captionsFrom === 'class') return Array.from({ length: captionsPerImage }, () => pick(index.captionsByImage.get(pick(index.imagesByClass.get(data.images.classIds[img])!))!));
    const rows = index.captionsByImage.get(img)!;
    if (captionsPerImage === 1) return [pick(rows)];
    // Distinct captions; an image with fewer than asked repeats them.
    const order = rng.sample(rows.length, rows.length);
    return Array.from({ length: captionsPerImage }, (_, k) => rows[order[k % rows.length]]);
  });
  const tokens = tokenTensor(captionRows.map((r) => dropWords(data.captions.tokens[r], options.wordDropout, unk, rng)));
  return { captionRows, tokens, pixels: imageTensor(data, images, 'random', rng, options.colourJitter) };
}

function randomTrainImage(index: TrainIndex, rng: Rng): number {
  const list = index.imagesByClass.get(index.classes[rng.int(index.classes.length)])!;
  return list[rng.int(list.length)];
}

/**
 * One autoencoder batch: random training captions; the encoder reads them with word dropout,
 * the decoder must reproduce the clean caption.
 */
export function autoencoderBatch(data: EmbeddingData, index: TrainIndex, size: number, wordDropout: number, rng: Rng) {
  const rows = Array.from({ length: size }, () => {
    const captions = index.captionsByImage.get(randomTrainImage(index, rng))!;
    return data.captions.tokens[captions[rng.int(captions.length)]];
  }).filter((r) => r.length > 0);
  const unk = data.vocab.id(UNK);
  const dec = decoderTensors(rows, data.vocab);
  const shape: [number, number] = [rows.length, dec.length];
  return {
    tokens: tokenTensor(rows.map((r) => dropWords(r, wordDropout, unk, rng))),
    decoderInput: tf.tensor2d(dec.input, shape, 'int32'),
    target: tf.tensor2d(dec.target, shape, 'int32'),
    mask: tf.tensor2d(dec.mask, shape),
  };
}

/** The imported vectors of the given caption rows, [n, dim]. */
export function importedTensor(data: EmbeddingData, rows: number[]): tf.Tensor2D {
  const { vectors, dim } = data.captions.imported!;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
  return tf.tensor2d(out, [rows.length, dim]);
}

/** [n, 64, 64, 3] in [-1, 1]: random crops, flips and colour jitter for training, centre crops for evaluation. */
export function imageTensor(data: EmbeddingData, rows: number[], mode: 'random' | 'center', rng: Rng, jitter = 0): tf.Tensor4D {
  const out = augmentRows({ pixels: data.images.pixels, size: IMAGE_SIZE }, rows, { crop: CROP, mode, flip: mode === 'random', jitter }, rng);
  return tf.tensor4d(out, [rows.length, CROP, CROP, 3]);
}
