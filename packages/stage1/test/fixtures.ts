import { Rng } from '@t2i/core';
import type { CaptionVectors } from 'embeddings';
import type { ImageSet } from 'preprocess-images';
import type { Stage1Config } from '../src/config.ts';

/** `classes` x `perClass` images of side `size` (flat colours per class), each with 10 caption vectors of `dim`. */
export function syntheticGanData(classes = 2, perClass = 4, size = 76, dim = 6) {
  const rng = new Rng(5);
  const n = classes * perClass;
  const images: ImageSet = {
    size,
    ids: Array.from({ length: n }, (_, i) => `image_${String(i + 1).padStart(5, '0')}`),
    classIds: Int16Array.from({ length: n }, (_, i) => 1 + Math.floor(i / perClass)),
    splits: Array.from({ length: n }, () => 'train' as const),
    pixels: Uint8Array.from({ length: n * size * size * 3 }, (_, i) => (Math.floor(i / (size * size * 3 * perClass)) * 120 + (i % 3) * 40) % 256),
  };
  const vectors: CaptionVectors = {
    dim,
    byImage: new Map(images.ids.map((id) => [id, Float32Array.from({ length: 10 * dim }, () => rng.normal())])),
    reference: Float32Array.from({ length: 2 * dim }, () => rng.normal()),
    referenceText: ['a', 'b'],
  };
  return { images, vectors };
}

export function tinyStage1(overrides: Partial<Stage1Config> = {}): Stage1Config {
  return {
    name: 'test',
    generator: 'simple',
    discriminator: 'simple',
    ngf: 2,
    ndf: 2,
    zDim: 4,
    conditionDim: 3,
    batchSize: 4,
    epochs: 2,
    learningRate: 0.001,
    lrDecayEpochs: 1,
    beta1: 0.5,
    klWeight: 2,
    captionsPerExample: 4,
    checkpointEvery: 1,
    keepCheckpoints: 2,
    seed: 1,
    ...overrides,
  };
}
