import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@t2i/backends';
import { Rng } from '@t2i/core';
import { batchNormTraining, LayerNorm, ParamStore, replicate } from '../src/index.ts';
import { recordsBatchStatistics } from './batch-norm-records.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Batch norm as the textbook writes it, each group by its own statistics: autodiff differentiates this. */
function plain(x: tf.Tensor, gammaBeta: tf.Tensor, groups: number): tf.Tensor {
  const [gamma, beta] = tf.unstack(gammaBeta);
  const stacked = x.reshape([groups, -1, x.shape[x.rank - 1]]);
  const { mean, variance } = tf.moments(stacked, 1, true);
  return stacked.sub(mean).div(variance.add(1e-5).sqrt()).mul(gamma).add(beta).reshape(x.shape);
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);

describe('batch norm in training', () => {
  for (const { shape, groups } of [
    { shape: [6, 5, 4, 3], groups: 1 },
    { shape: [6, 5, 4, 3], groups: 3 },
    { shape: [8, 7], groups: 1 },
    { shape: [8, 7], groups: 2 },
  ]) {
    it(`matches autodiff of the plain formula in value and in every gradient: [${shape}], ${groups} group(s)`, () => {
      tf.tidy(() => {
        const c = shape[shape.length - 1];
        const x = tf.randomNormal(shape, 2, 3, 'float32', 1);
        const gammaBeta = tf.stack([tf.randomNormal([c], 1, 0.3, 'float32', 2), tf.randomNormal([c], 0, 1, 'float32', 3)]);
        // A random weighting of the outputs, so that every gradient term matters.
        const weights = tf.randomNormal(shape, 0, 1, 'float32', 4);
        const loss = (f: typeof plain) => (a: tf.Tensor, b: tf.Tensor) => f(a, b, groups).mul(weights).sum();
        const ours = tf.grads(loss(batchNormTraining))([x, gammaBeta]);
        const want = tf.grads(loss(plain))([x, gammaBeta]);
        expect(maxDiff(batchNormTraining(x, gammaBeta, groups), plain(x, gammaBeta, groups))).toBeLessThan(1e-5);
        ours.forEach((g, i) => {
          expect(g.shape).toEqual(want[i].shape);
          expect(maxDiff(g, want[i])).toBeLessThan(1e-4);
        });
      });
    });
  }

  it('records the batch statistics for the moving averages, and leaves no tensor behind', recordsBatchStatistics);

  for (const activation of ['relu', 'leakyRelu'] as const) {
    it(`with ${activation} after it: the activation of its output, in value and gradients`, () => {
      tf.tidy(() => {
        const x = tf.randomNormal([6, 5, 4, 3], 0, 1, 'float32', 1);
        const gammaBeta = tf.stack([tf.randomNormal([3], 1, 0.3, 'float32', 2), tf.randomNormal([3], 0, 1, 'float32', 3)]);
        const weights = tf.randomNormal([6, 5, 4, 3], 0, 1, 'float32', 4);
        const act = (t: tf.Tensor) => (activation === 'relu' ? tf.relu(t) : tf.leakyRelu(t, 0.2));
        const fused = (a: tf.Tensor, b: tf.Tensor) => batchNormTraining(a, b, 3, undefined, activation).mul(weights).sum();
        const after = (a: tf.Tensor, b: tf.Tensor) => act(plain(a, b, 3)).mul(weights).sum();
        expect(maxDiff(fused(x, gammaBeta), after(x, gammaBeta))).toBeLessThan(1e-4);
        tf.grads(fused)([x, gammaBeta]).forEach((g, i) => expect(maxDiff(g, tf.grads(after)([x, gammaBeta])[i])).toBeLessThan(1e-4));
      });
    });
  }
});

describe('replicate', () => {
  it("copies a code to every position, with tf.tile's value and gradient", () => {
    tf.tidy(() => {
      const code = tf.randomNormal([2, 5], 0, 1, 'float32', 6);
      const weights = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 7);
      const tiled = (c: tf.Tensor) => c.reshape([2, 1, 1, 5]).tile([1, 3, 4, 1]);
      expect(maxDiff(replicate(code, 3, 4), tiled(code))).toBe(0);
      const grad = (f: (c: tf.Tensor) => tf.Tensor) => tf.grad((c: tf.Tensor) => f(c).mul(weights).sum())(code);
      expect(maxDiff(grad((c) => replicate(c, 3, 4)), grad(tiled))).toBeLessThan(1e-5);
    });
  });
});

describe('layer norm (the WGAN-GP critic\'s)', () => {
  it('normalises each example by the mean and variance of all its features, then applies γ and β per channel: its formula, by hand', () => {
    const norm = new LayerNorm(new ParamStore(new Rng(1)), 'ln', 2);
    norm.gammaBeta.assign(tf.tensor2d([[2, 0.5], [1, -1]]));
    const values = [1, 2, 3, 4, 5, 6, 7, 9, -1, 0, 0, 1, 2, 2, 2, 8];
    const x = tf.tensor4d(values, [2, 2, 2, 2]);
    const got = norm.apply(x).dataSync();
    for (let n = 0; n < 2; n++) {
      const own = values.slice(n * 8, n * 8 + 8);
      const mean = own.reduce((a, b) => a + b) / 8;
      const variance = own.reduce((a, b) => a + (b - mean) ** 2, 0) / 8;
      own.forEach((v, j) => {
        const [gamma, beta] = j % 2 === 0 ? [2, 1] : [0.5, -1];
        expect(got[n * 8 + j]).toBeCloseTo(((v - mean) / Math.sqrt(variance + 1e-5)) * gamma + beta, 4);
      });
    }
  });

  it("gives an example the same output whatever the rest of the batch, and makes its γ and β as batch norm's: [2, channels] under its name", () => {
    const store = new ParamStore(new Rng(1));
    const norm = new LayerNorm(store, 'd/joint/ln', 3);
    const x = tf.randomNormal([4, 3, 3, 3], 0, 1, 'float32', 5);
    expect(maxDiff(norm.apply(x).slice([0], [1]), norm.apply(x.slice([0], [1])))).toBeLessThan(1e-6);
    expect([...store.variables].map(([n, v]) => [n, v.shape])).toEqual([['d/joint/ln/gamma_beta', [2, 3]]]);
  });
});
