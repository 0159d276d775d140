import { Rng, sampleDatasetDir } from '@t2i/core';
import { tf } from '@t2i/backends';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImageSet } from 'preprocess-images';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifierData, loadOrTrainClassifier, readClassificationSplit, toClassifierInput } from '../src/classifier.ts';

const settings = { classifierWidth: 2, classifierFeatures: 4, classifierEpochs: 6, classifierBatchSize: 4, classifierLearningRate: 0.05, classifierSeed: 1 };

/** Flat-coloured 76 px images: reddish for class 1, bluish for class 5, with a little noise. */
function colourImages(ids: string[]): ImageSet {
  const rng = new Rng(9);
  const size = 76;
  const classIds = Int16Array.from(ids, (_, i) => (i % 2 === 0 ? 1 : 5));
  const pixels = new Uint8Array(ids.length * size * size * 3);
  for (let i = 0; i < ids.length; i++) {
    const [r, b] = classIds[i] === 1 ? [200, 40] : [40, 200];
    for (let p = 0; p < size * size; p++) {
      const o = (i * size * size + p) * 3;
      pixels[o] = r + rng.int(30);
      pixels[o + 1] = 100 + rng.int(30);
      pixels[o + 2] = b + rng.int(30);
    }
  }
  return { size, ids, classIds, splits: ids.map(() => 'test'), pixels };
}

describe('flower classifier', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-classifier-'));
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the official split from the sample's setid.mat", async () => {
    const split = await readClassificationSplit(sampleDatasetDir);
    expect(split.train.size).toBe(2040);
    expect(split.test.size).toBe(6149);
    expect(split.train.has('image_06765')).toBe(true);
    expect(split.test.has('image_06734')).toBe(true);
    await expect(readClassificationSplit(dir)).rejects.toThrow(/setid\.mat: missing/);
    await expect(readClassificationSplit(path.join(dir, 'nope'))).rejects.toThrow(/nope: no such dataset folder/);
  });

  it('learns two colours, caches its weights, and retrains when its settings change', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `image_${String(i + 1).padStart(5, '0')}`);
    const data = classifierData(colourImages(ids), { train: new Set(ids.slice(0, 8)), test: new Set(ids.slice(8)) });
    expect(data.classes).toEqual([1, 5]);
    const first = await loadOrTrainClassifier(dir, data, settings);
    expect(first.trained).toBe(true);
    expect(first.info).toMatchObject({ trainImages: 8, testImages: 4, testTop1: 1, testTop5: 1 });
    const before = tf.memory().numTensors;
    const probs = tf.tidy(() => first.classifier.classify(toClassifierInput(tf.zeros([2, 256, 256, 3]))).probs.sum(1));
    expect(Array.from(await probs.data()).map((v) => Number(v.toFixed(5)))).toEqual([1, 1]);
    probs.dispose();
    expect(tf.memory().numTensors).toBe(before);
    first.classifier.store.dispose();

    const again = await loadOrTrainClassifier(dir, data, settings);
    expect(again.trained).toBe(false);
    expect(again.info).toEqual(first.info);
    again.classifier.store.dispose();

    const changed = await loadOrTrainClassifier(dir, data, { ...settings, classifierEpochs: 1 });
    expect(changed.trained).toBe(true);
    changed.classifier.store.dispose();
  });
});
