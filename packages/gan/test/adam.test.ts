import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@t2i/backends';
import { Adam } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Adam', () => {
  it("follows TensorFlow's update rule", () => {
    const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const grads = [[0.3, -1, 2], [0.1, 0.2, -0.4], [-2, 0.5, 1]];
    const opt = new Adam(0.01, 0.5, { beta2: 0.999, epsilon: 1e-8 });
    const want = [1, -2, 0.5];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    grads.forEach((g, step) => {
      opt.applyGradients({ [w.name]: tf.tensor1d(g) });
      const t = step + 1;
      const lr = (0.01 * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.5 ** t);
      for (let i = 0; i < 3; i++) {
        m[i] = 0.5 * m[i] + 0.5 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2;
        want[i] -= (lr * m[i]) / (Math.sqrt(v[i]) + 1e-8);
      }
    });
    Array.from(w.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
    opt.dispose();
    w.dispose();
  });

  it('updates all variables at once in flat mode, to the same values', () => {
    const shapes = [[3, 2], [5], [2, 2, 2]];
    const run = (flat: boolean) => {
      const vars = shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 100 + i))));
      const opt = new Adam(0.05, 0.5, { flat });
      for (let step = 0; step < 4; step++) {
        const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1, 'float32', 1 + 10 * step + i)]));
        opt.applyGradients(grads);
        tf.dispose(Object.values(grads));
      }
      const values = vars.map((v) => Array.from(v.dataSync()));
      opt.dispose();
      tf.dispose(vars);
      return values;
    };
    const before = tf.memory().numTensors;
    const [flat, each] = [run(true), run(false)];
    flat.flat().forEach((x, i) => expect(x).toBeCloseTo(each.flat()[i], 6));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("frees each variable's temporaries before the next (tf.train.adam holds all of them to the end)", async () => {
    const size = 1000;
    const vars = Array.from({ length: 8 }, () => tf.variable(tf.randomNormal([size])));
    const grads = Object.fromEntries(vars.map((v) => [v.name, tf.randomNormal([size])]));
    const extra = async (opt: tf.Optimizer) => {
      opt.applyGradients(grads); // creates the moments
      const before = tf.memory().numBytes;
      const { peakBytes } = await tf.profile(() => opt.applyGradients(grads));
      opt.dispose();
      return peakBytes - before;
    };
    const bytes = size * 4;
    // Two temporaries of one variable's size at a time (and a few scalars), however many variables there are.
    expect(await extra(new Adam(0.01, 0.5))).toBeLessThan(2 * bytes + 64);
    expect(await extra(tf.train.adam(0.01, 0.5))).toBeGreaterThan(8 * 8 * bytes);
    tf.dispose([...vars, ...Object.values(grads)]);
  });
});
