import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { beforeAll, describe, expect, it } from 'vitest';
import { ParamStore, WeightAverage } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const expectClose = (t: tf.Tensor, expected: number[]) => Array.from(t.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(expected[i], 5));

describe('weight average', () => {
  it('is the bias-corrected exponential average of the weights after each update, which apply puts into the model', () => {
    const store = new ParamStore(new Rng(1));
    const w = store.add('w', [2], { kind: 'zeros' });
    const average = new WeightAverage(store, 0.5);
    const path = [
      [4, -2],
      [0, 2],
      [8, 6],
    ];
    for (const p of path) {
      w.assign(tf.tensor1d(p));
      average.update();
    }
    // By hand: sum of (1 - d) d^(t - i) w_i over 1 - d^t, with d = 0.5, t = 3: weights 1/7, 2/7, 4/7.
    const expected = [(4 + 0 * 2 + 8 * 4) / 7, (-2 + 2 * 2 + 6 * 4) / 7];
    const values = average.values();
    expectClose(values.w, expected);
    tf.dispose(Object.values(values));

    // A checkpoint's sums and count, loaded into a fresh average, give the same average.
    const copy = new WeightAverage(store, 0.5);
    copy.load(average.snapshot(), average.updates);
    const copied = copy.values();
    expectClose(copied.w, expected);
    tf.dispose(Object.values(copied));

    average.apply();
    expectClose(w, expected);
    expect(() => new WeightAverage(store, 0.5).load({}, 3)).toThrow(/no average of w/);
    [average, copy].forEach((a) => a.dispose());
    store.dispose();
  });

  it('before any update is the weights themselves', () => {
    const store = new ParamStore(new Rng(1));
    store.add('w', [3], { kind: 'normal', mean: 0, std: 1 });
    const average = new WeightAverage(store, 0.99);
    const values = average.values();
    expect(Array.from(values.w.dataSync())).toEqual(Array.from(store.variables.get('w')!.dataSync()));
    tf.dispose(Object.values(values));
    average.dispose();
    store.dispose();
  });

  it('averages only the scopes it is given, and lends the average to a task before giving the trained weights back', async () => {
    const store = new ParamStore(new Rng(1));
    const g = store.add('g/w', [1], { kind: 'zeros' });
    const d = store.add('d/w', [1], { kind: 'zeros' });
    const before = tf.memory().numTensors;
    const average = new WeightAverage(store, 0.5, ['g']);
    for (const v of [2, 4]) {
      tf.tidy(() => {
        g.assign(tf.tensor1d([v]));
        d.assign(tf.tensor1d([-v]));
      });
      average.update();
    }
    // d = 0.5 over two updates: weights 1/3, 2/3.
    expect(Object.keys(average.snapshot())).toEqual(['average:g/w']);
    const seen = await average.whileApplied(async () => [g.dataSync()[0], d.dataSync()[0]]);
    expect(seen[0]).toBeCloseTo((2 + 2 * 4) / 3, 6);
    expect(seen[1]).toBe(-4);
    expect([g.dataSync()[0], d.dataSync()[0]]).toEqual([4, -4]);
    // Given back even when the task fails.
    await expect(average.whileApplied(async () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    expect(g.dataSync()[0]).toBe(4);
    average.dispose();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });
});
