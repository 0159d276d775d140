import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { beforeAll, describe, expect, it } from 'vitest';
import { bce, classCrossEntropy, ConditioningAugmentation, criticLoss, discriminatorLoss, generatorLoss, gradientPenalty, klLoss, ParamStore } from '../src/index.ts';

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

  it("the auxiliary classifier's class cross-entropy on fixed logits, by hand", () => {
    const logits = tf.tensor2d([[2, 0, -1], [0.5, 0.5, 3]]);
    const nll = (row: number[], label: number) => Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[label];
    const want = (nll([2, 0, -1], 0) + nll([0.5, 0.5, 3], 1)) / 2;
    expect(classCrossEntropy(logits, tf.tensor1d([0, 1], 'int32')).dataSync()[0]).toBeCloseTo(want, 5);
    // Its gradient: (softmax − one-hot)/n.
    const grad = tf.grad((x: tf.Tensor) => classCrossEntropy(x as tf.Tensor2D, tf.tensor1d([0, 1], 'int32')))(logits).dataSync();
    const softmax = tf.softmax(logits).dataSync();
    Array.from(grad).forEach((g, i) => expect(g).toBeCloseTo((softmax[i] - (i === 0 || i === 4 ? 1 : 0)) / 2, 6));
  });

  it('WGAN-GP losses on fixed scores: the critic scores real-matching pairs high, wrong and fake ones low; the generator wants its fakes high', () => {
    const real = tf.tensor1d([2, 0]);
    const wrong = tf.tensor1d([1, -1]);
    const fake = tf.tensor1d([0.5, -3]);
    const d = criticLoss(real, wrong, fake);
    expect([d.real, d.wrong, d.fake].map((t) => t.dataSync()[0])).toEqual([-1, 0, -1.25]);
    expect(d.total.dataSync()[0]).toBeCloseTo(-1 + (0 - 1.25) / 2, 6);
    const g = generatorLoss(fake, tf.scalar(0.25), 2, 'wgan-gp');
    expect(g.adversarial.dataSync()[0]).toBeCloseTo(1.25, 6);
    expect(g.total.dataSync()[0]).toBeCloseTo(1.25 + 0.5, 6);
  });
});

describe('gradient penalty', () => {
  const shape: [number, number, number, number] = [3, 2, 2, 2];
  // Made in the tests: the backend is chosen in beforeAll.
  const inputs = () => ({
    real: tf.tensor4d(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), shape),
    fake: tf.tensor4d(Float32Array.from({ length: 24 }, (_, i) => Math.cos(3 * i)), shape),
    epsilon: tf.tensor1d([0, 0.3, 1]),
  });

  it('of a linear critic a·x + b: (‖a‖ − 1)² at every interpolate, and 2(‖a‖ − 1)·a/‖a‖ its gradient in a', () => {
    const { real, fake, epsilon } = inputs();
    const a = tf.variable(tf.tensor4d(Float32Array.from({ length: 8 }, (_, i) => 0.2 * (i - 3)), [1, 2, 2, 2]));
    const norm = Math.hypot(...a.dataSync());
    const critic = (x: tf.Tensor4D) => x.mul(a).sum([1, 2, 3]).add(0.7) as tf.Tensor1D;
    const { value, grads } = tf.variableGrads(() => gradientPenalty(critic, real, fake, epsilon), [a]);
    expect(value.dataSync()[0]).toBeCloseTo((norm - 1) ** 2, 5);
    const want = Array.from(a.dataSync(), (ai) => (2 * (norm - 1) * ai) / norm);
    Array.from(grads[a.name].dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want[i], 5));
  });

  it('at ε·real + (1 − ε)·fake, ε per example: for the critic ½‖x‖², whose input gradient is x itself, the mean of (‖x̂‖ − 1)²', () => {
    const { real, fake, epsilon } = inputs();
    const critic = (x: tf.Tensor4D) => x.square().sum([1, 2, 3]).mul(0.5) as tf.Tensor1D;
    const [r, f] = [real.dataSync(), fake.dataSync()];
    const want =
      [0, 0.3, 1]
        .map((e, n) => Math.hypot(...Array.from({ length: 8 }, (_, j) => e * r[n * 8 + j] + (1 - e) * f[n * 8 + j])))
        .reduce((sum, norm) => sum + (norm - 1) ** 2, 0) / 3;
    expect(gradientPenalty(critic, real, fake, epsilon).dataSync()[0]).toBeCloseTo(want, 5);
  });
});

