import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { ImageStream, openStage2Data, streamedBatch } from '../src/data.ts';
import { classValue, syntheticVectors, writeImagesFile } from './fixtures.ts';

const dir = tempDir();
const file = path.join(dir, 'images-8.arrow');
// 48 rows of 4 classes in 12 record batches of 4; class 4 is a test class: 36 training rows.
const ROWS = 48;
const BATCH_ROWS = 4;
let written: Awaited<ReturnType<typeof writeImagesFile>>;

beforeAll(async () => {
  await tf.setBackend('cpu');
  written = await writeImagesFile(file, { rows: ROWS, classes: 4, size: 8, batchRows: BATCH_ROWS, testClasses: [4] });
});
afterAll(() => removeDir(dir));

describe('streaming images-<size>.arrow', () => {
  it('plans an epoch: every training row at most once, record batches in a random order, each read once', async () => {
    const stream = await ImageStream.open(file, (row) => row.split === 'train');
    const train = written.ids.flatMap((_, i) => (written.splits[i] === 'train' ? [i] : []));
    expect(stream.rows).toEqual(train);
    expect(stream.recordBatches).toBe(ROWS / BATCH_ROWS);
    const steps = stream.startEpoch(new Rng(1), 5, 8);
    expect(steps.length).toBe(Math.floor(train.length / 5));
    const used = steps.flatMap((s) => s.rows);
    expect(new Set(used).size).toBe(used.length);
    expect(used.every((r) => train.includes(r))).toBe(true);
    const reads = steps.flatMap((s) => s.read);
    expect(new Set(reads).size).toBe(reads.length);
    expect(reads).not.toEqual([...reads].sort((a, b) => a - b));
    // A step only trains on rows of record batches read by then.
    const readSoFar = new Set<number>();
    for (const s of steps) {
      s.read.forEach((b) => readSoFar.add(b));
      expect(s.rows.every((r) => readSoFar.has(Math.floor(r / BATCH_ROWS)))).toBe(true);
    }
    expect(stream.startEpoch(new Rng(2), 5, 8)).not.toEqual(steps);
    await stream.close();
  });

  it('never holds more than the shuffle buffer and one record batch of images, however long the file', async () => {
    const vectors = syntheticVectors(written.ids);
    const data = await openStage2Data(file, vectors);
    const { stream } = data;
    expect(data.classes).toEqual([1, 2, 3]);
    // Rows in memory right after each read, counted from outside the stream's own bookkeeping.
    const held: number[] = [];
    const load = stream.load.bind(stream);
    vi.spyOn(stream, 'load').mockImplementation(async (step) => {
      await load(step);
      held.push(stream.residentRows.length);
    });
    const rng = new Rng(3);
    const bufferRows = 6;
    const batchSize = 3;
    for (let epoch = 1; epoch <= 2; epoch++) {
      const steps = stream.startEpoch(rng, batchSize, bufferRows);
      for (const step of steps) {
        const before = tf.memory().numTensors;
        const batch = await streamedBatch(data, step, 4, 4, rng);
        expect(batch.real.shape).toEqual([batchSize, 4, 4, 3]);
        expect(batch.wrong.shape).toEqual([batchSize, 4, 4, 3]);
        expect(batch.text.shape).toEqual([batchSize, vectors.dim]);
        // Labels index the training classes (1, 2, 3; class 4 is a test class).
        expect(Array.from(batch.labels!.dataSync())).toEqual(step.rows.map((r) => written.classIds[r] - 1));
        const real = await batch.real.array();
        const wrong = await batch.wrong.array();
        step.rows.forEach((r, i) => {
          // Flat colours survive crop and flip: each real image is its row's, each wrong one of another class.
          expect(real[i][0][0][0]).toBeCloseTo(classValue(written.classIds[r]) / 127.5 - 1, 5);
          expect(wrong[i][0][0][0]).not.toBeCloseTo(real[i][0][0][0], 5);
        });
        tf.dispose(batch);
        expect(tf.memory().numTensors).toBe(before);
      }
      // Each record batch that holds training rows (all 12 here) is read once per epoch.
      expect(stream.batchesRead).toBe(epoch * 12);
    }
    const bound = Math.max(bufferRows, batchSize) - 1 + BATCH_ROWS;
    expect(Math.max(...held)).toBeLessThanOrEqual(bound);
    expect(stream.peakResident).toBe(Math.max(...held));
    expect(bound).toBeLessThan(stream.rows.length);
    await stream.close();
  });

  it('refuses a file whose training rows are all of one class', async () => {
    const one = path.join(dir, 'one-class.arrow');
    const w = await writeImagesFile(one, { rows: 8, classes: 2, size: 8, batchRows: 4, testClasses: [2] });
    await expect(openStage2Data(one, syntheticVectors(w.ids))).rejects.toThrow(/at least 2 classes/);
  });
});
