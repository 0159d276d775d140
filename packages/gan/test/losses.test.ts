import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { beforeAll, describe, expect, it } from 'vitest';
import { bce, ConditioningAugmentation, discriminatorLoss, generatorLoss, klLoss, ParamStore } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('conditioning augmentation', () => {
  it('text -> (mu, log sigma) of conditionDim, c = mu + sigma * eps', () => {
    const ca = new ConditioningAugmentation(new ParamStore(new Rng(1)), 6, 3);
    const eps = tf.tensor2d([[1, 0, -1], [0, 0, 0]]);
    const { c, mu, logSigma } = ca.apply(tf.ones([2, 6]) as tf.Tensor2D, eps);
    expect([c.shape, mu.shape, logSigma.shape]).toEqual([[2, 3], [2, 3], [2, 3]]);
    const expected = mu.add(logSigma.exp().mul(eps)).dataSync();
    Array.from(c.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    // eps = 0 gives c = mu.
    Array.from(c.slice([1, 0], [1, 3]).dataSync()).forEach((v, i) => expect(v).toBeCloseTo(mu.dataSync()[3 + i], 6));
  });
});

describe('losses', () => {
  it('KL term against a hand computation', () => {
    const mu = tf.tensor2d([[0, 1]]);
    const logSigma = tf.tensor2d([[0, Math.log(2)]]);
    // per dim: -log s + (s^2 + mu^2 - 1) / 2 -> dim 0: 0; dim 1: -ln 2 + (4 + 1 - 1) / 2
    expect(klLoss(mu, logSigma).dataSync()[0]).toBeCloseTo((0 + (-Math.log(2) + 2)) / 2, 6);
  });

  it('GAN-CLS losses on fixed logits', () => {
    const sp = (x: number) => Math.log(1 + Math.exp(x)); // -log sigmoid(-x): the loss of logit x for target 0
    const real = tf.tensor1d([2, 0]);
    const wrong = tf.tensor1d([1, -1]);
    const fake = tf.tensor1d([0.5, -3]);
    const d = discriminatorLoss(real, wrong, fake);
    const realL = (sp(-2) + sp(0)) / 2;
    const wrongL = (sp(1) + sp(-1)) / 2;
    const fakeL = (sp(0.5) + sp(-3)) / 2;
    expect(d.real.dataSync()[0]).toBeCloseTo(realL, 5);
    expect(d.total.dataSync()[0]).toBeCloseTo(realL + (wrongL + fakeL) / 2, 5);
    const g = generatorLoss(fake, tf.scalar(0.25), 2);
    expect(g.adversarial.dataSync()[0]).toBeCloseTo((sp(-0.5) + sp(3)) / 2, 5);
    expect(g.total.dataSync()[0]).toBeCloseTo((sp(-0.5) + sp(3)) / 2 + 0.5, 5);
  });

  it("bce has tf.losses.sigmoidCrossEntropy's value and gradient, far out in the tails too", () => {
    const logits = tf.tensor1d([-90, -20, -3, -0.5, 0, 0.7, 4, 30, 95]);
    for (const target of [0, 1] as const) {
      const stock = (x: tf.Tensor) => tf.losses.sigmoidCrossEntropy(tf.fill(x.shape, target), x) as tf.Scalar;
      const ours = (x: tf.Tensor) => bce(x as tf.Tensor1D, target);
      expect(ours(logits).dataSync()[0]).toBeCloseTo(stock(logits).dataSync()[0], 5);
      const [got, want] = [ours, stock].map((f) => Array.from(tf.grad(f)(logits).dataSync()));
      got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 7));
    }
  });
});
