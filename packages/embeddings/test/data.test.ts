import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { describe, expect, it, vi } from 'vitest';
import { indexTraining, jointBatch, type JointBatchOptions } from '../src/batches.ts';
import { EmbeddingsConfig } from '../src/config.ts';
import { withCaptionsOnly } from '../src/data.ts';
import { requireOneSentenceSpace } from '../src/sentence-encoder.ts';
import { syntheticData, tinyConfig } from './fixtures.ts';

const plain: JointBatchOptions = { size: 2, wordDropout: 0, captionsPerImage: 1, captionsFrom: 'image', imagesPerClass: 1, colourJitter: 0 };

describe('embedding data', () => {
  it('leaves out images without captions (skipped by captions --skip-bad), renumbering the captions\' rows', () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const images = { ids: ['a', 'b', 'c'], classIds: Int16Array.of(1, 2, 3), splits: ['train', 'train', 'test'] as ('train' | 'test')[], pixels: Uint8Array.of(1, 1, 2, 2, 3, 3) };
    const capImage = [0, 0, 2, 2, 2];
    const { images: kept } = withCaptionsOnly(images, capImage);
    expect(kept).toEqual({ ids: ['a', 'c'], classIds: Int16Array.of(1, 3), splits: ['train', 'test'], pixels: Uint8Array.of(1, 1, 3, 3) });
    expect(capImage).toEqual([0, 0, 1, 1, 1]);
    const all = [0, 1, 2];
    expect(withCaptionsOnly(images, all).images).toBe(images);
  });

  it('a joint batch: one image of each of distinct classes, and k distinct captions of each image, image by image', async () => {
    await tf.setBackend('cpu');
    const data = syntheticData();
    const index = indexTraining(data);
    const batch = jointBatch(data, index, { ...plain, captionsPerImage: 3 }, new Rng(3));
    const images = batch.captionRows.map((r) => data.captions.image[r]);
    expect(batch.tokens.shape[0]).toBe(6);
    expect(new Set(images.slice(0, 3)).size).toBe(1);
    expect(new Set(images.slice(3)).size).toBe(1);
    expect(data.images.classIds[images[0]]).not.toBe(data.images.classIds[images[3]]);
    expect(new Set(batch.captionRows.slice(0, 3)).size).toBe(3);
    tf.dispose([batch.tokens, batch.pixels]);
  });

  it('a joint batch with captions from the class: each image\'s captions are of its class, not all of the image itself', async () => {
    await tf.setBackend('cpu');
    const data = syntheticData();
    const index = indexTraining(data);
    const batch = jointBatch(data, index, { ...plain, captionsPerImage: 5, captionsFrom: 'class' }, new Rng(3));
    const images = batch.captionRows.map((r) => data.captions.image[r]);
    const classOf = (img: number) => data.images.classIds[img];
    expect(batch.tokens.shape[0]).toBe(10);
    for (const k of [0, 5]) {
      expect(new Set(images.slice(k, k + 5).map(classOf)).size).toBe(1);
    }
    expect(classOf(images[0])).not.toBe(classOf(images[5]));
    // Several images of a class are drawn: with one image a class the batch could not tell the two apart.
    expect(new Set(images).size).toBeGreaterThan(2);
    tf.dispose([batch.tokens, batch.pixels]);
  });

  it('a joint batch with siblings: k distinct images of each of size / k distinct classes, each with its own captions', async () => {
    await tf.setBackend('cpu');
    const data = syntheticData();
    const index = indexTraining(data);
    const batch = jointBatch(data, index, { ...plain, size: 4, imagesPerClass: 2, captionsPerImage: 1 }, new Rng(3));
    const images = batch.captionRows.map((r) => data.captions.image[r]);
    const classOf = (img: number) => data.images.classIds[img];
    expect(batch.pixels.shape[0]).toBe(4);
    expect(new Set(images).size).toBe(4);
    expect(classOf(images[0])).toBe(classOf(images[1]));
    expect(classOf(images[2])).toBe(classOf(images[3]));
    expect(classOf(images[0])).not.toBe(classOf(images[2]));
    tf.dispose([batch.tokens, batch.pixels]);
  });

  it('refuses a config with captions from the class and siblings in the batch, which could not be told apart', () => {
    const base = { ...tinyConfig(), name: undefined };
    expect(EmbeddingsConfig.safeParse({ ...base, imagesPerClass: 2 }).success).toBe(true);
    expect(EmbeddingsConfig.safeParse({ ...base, captionsFrom: 'class' }).success).toBe(true);
    const both = EmbeddingsConfig.safeParse({ ...base, captionsFrom: 'class', imagesPerClass: 2 });
    expect(both.success).toBe(false);
    expect(both.error?.issues[0].message).toMatch(/use imagesPerClass 1/);
  });

  it('refuses a GRU size without the GRU text side, which would be ignored', () => {
    const base = { ...tinyConfig(), name: undefined };
    expect(EmbeddingsConfig.safeParse({ ...base, textEncoder: 'cnn-gru', gruHidden: 4 }).success).toBe(true);
    const stray = EmbeddingsConfig.safeParse({ ...base, gruHidden: 4 });
    expect(stray.success).toBe(false);
    expect(stray.error?.issues[0].message).toMatch(/set textEncoder 'cnn-gru'/);
  });

  it('refuses models that read different sentence vectors (another size, or a retrained encoder), naming each and the command', () => {
    expect(() => requireOneSentenceSpace({ encoder: { textDim: 64, encoder: 'a1b2c3d4-x' }, 'Stage I': { textDim: 64, encoder: 'a1b2c3d4-x' } }, 'x')).not.toThrow();
    // Generators of earlier versions record no encoder: only the size can be checked.
    expect(() => requireOneSentenceSpace({ encoder: { textDim: 64, encoder: 'a1b2c3d4-x' }, 'Stage I': { textDim: 64 } }, 'x')).not.toThrow();
    expect(() => requireOneSentenceSpace({ encoder: { textDim: 64 }, 'Stage I': { textDim: 32 } }, 'pnpm turbo run stage1')).toThrow(
      'sentence vectors of different sizes (encoder 64-d, Stage I 32-d): the models were trained on different embeddings; retrain what came after embeddings: pnpm turbo run stage1',
    );
    expect(() => requireOneSentenceSpace({ encoder: { textDim: 64, encoder: 'ffff0000-new' }, 'Stage I': { textDim: 64, encoder: 'a1b2c3d4-old' } }, 'pnpm turbo run stage1')).toThrow(
      'sentence vectors of different encoder trainings (encoder ffff0000, Stage I a1b2c3d4): the encoder was retrained after the models that read it; retrain what came after embeddings: pnpm turbo run stage1',
    );
  });
});
