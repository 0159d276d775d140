import { Rng } from '@t2i/core';
import { Vocabulary } from 'captions';
import type { EmbeddingsConfig } from '../src/config.ts';
import type { EmbeddingData } from '../src/data.ts';

const WORDS = ['red', 'yellow', 'white', 'blue', 'pink', 'petals', 'flower', 'round', 'pointed', 'center'];

/** In-memory data: `classes` classes (the last one a test class) of `perClass` images, 10 captions each. */
export function syntheticData(classes = 4, perClass = 3, seed = 1): EmbeddingData {
  const rng = new Rng(seed);
  const texts: string[][] = [];
  const ids: string[] = [];
  const classIds: number[] = [];
  const splits: ('train' | 'test')[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      ids.push(`image_${String(c * perClass + i + 1).padStart(5, '0')}`);
      classIds.push(c + 1);
      splits.push(c === classes - 1 ? 'test' : 'train');
      texts.push(Array.from({ length: 10 }, () => `this flower has ${WORDS[c % WORDS.length]} ${WORDS[5 + rng.int(5)]} petals`));
    }
  }
  const vocab = Vocabulary.build(texts.filter((_, i) => splits[i] === 'train').flat());
  const pixels = Uint8Array.from({ length: ids.length * 76 * 76 * 3 }, (_, i) => (classIds[Math.floor(i / (76 * 76 * 3))] * 50 + (i % 7)) % 256);
  return {
    vocab,
    images: { ids, classIds: Int16Array.from(classIds), splits, pixels },
    captions: {
      image: Int32Array.from(texts.flatMap((t, i) => t.map(() => i))),
      index: Int8Array.from(texts.flatMap((t) => t.map((_, j) => j))),
      tokens: texts.flat().map((t) => vocab.encode(t)),
    },
    reference: { text: ['a red flower'], tokens: [vocab.encode('a red flower')] },
  };
}

export function tinyConfig(overrides: Partial<EmbeddingsConfig> = {}): EmbeddingsConfig {
  return {
    name: 'test',
    encoder: 'joint',
    dim: 8,
    wordDim: 6,
    textChannels: 8,
    imageChannels: 2,
    imageEncoder: 'cnn4',
    lrSchedule: 'constant',
    captionsPerImage: 1,
    seq2seqHidden: 8,
    maxTokens: 32,
    epochs: 1,
    batchSize: 3,
    learningRate: 0.01,
    temperature: 0.1,
    wordDropout: 0.1,
    imageEpochs: 1,
    seed: 3,
    ...overrides,
  };
}
