import { Rng } from '@t2i/core';
import { ParamStore, tf } from '@t2i/core/runtime';
import { beforeAll, describe, expect, it } from 'vitest';
import { averagedCaption } from '../src/data.ts';
import { bce, discriminatorLoss, generatorLoss, klLoss } from '../src/losses.ts';
import { buildGenerator, ConditioningAugmentation, Discriminator } from '../src/model.ts';
import { tinyStage1 } from './fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Stage I blocks', () => {
  it('conditioning augmentation: text -> (mu, log sigma) of conditionDim, c = mu + sigma * eps', () => {
    const ca = new ConditioningAugmentation(new ParamStore(new Rng(1)), 6, 3);
    const eps = tf.tensor2d([[1, 0, -1], [0, 0, 0]]);
    const { c, mu, logSigma } = ca.apply(tf.ones([2, 6]) as tf.Tensor2D, eps);
    expect([c.shape, mu.shape, logSigma.shape]).toEqual([[2, 3], [2, 3], [2, 3]]);
    const expected = mu.add(logSigma.exp().mul(eps)).dataSync();
    Array.from(c.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 6));
    // eps = 0 gives c = mu.
    Array.from(c.slice([1, 0], [1, 3]).dataSync()).forEach((v, i) => expect(v).toBeCloseTo(mu.dataSync()[3 + i], 6));
  });

  for (const kind of ['simple', 'complex'] as const) {
    it(`${kind} generator: (c, z) -> [n, 64, 64, 3] in [-1, 1] in training and inference mode, changing with c and with z in training mode`, () => {
      const config = tinyStage1({ generator: kind, ngf: 4 });
      const g = buildGenerator(new ParamStore(new Rng(1)), config, 6);
      const [c, z] = [config.conditionDim, config.zDim].map((d, i) => tf.randomNormal([3, d], 0, 1, 'float32', i + 1) as tf.Tensor2D);
      const apart = (a: tf.Tensor, b: tf.Tensor) => a.sub(b).abs().max().dataSync()[0];
      for (const training of [true, false]) {
        const out = g.generate(c, z, { training });
        expect(out.shape).toEqual([3, 64, 64, 3]);
        expect(out.abs().max().dataSync()[0]).toBeLessThanOrEqual(1);
        // Untrained, inference mode's moving variance (1) shrinks every image to about 1e-5: only training mode can show what changes it.
        if (training) {
          expect(apart(out, g.generate(c.neg(), z, { training }))).toBeGreaterThan(1e-3);
          expect(apart(out, g.generate(c, z.neg(), { training }))).toBeGreaterThan(1e-3);
        }
      }
    });

    it(`${kind} discriminator: [n, 64, 64, 3] images + text -> [n] logits`, () => {
      const d = new Discriminator(new ParamStore(new Rng(1)), tinyStage1({ discriminator: kind, ndf: 4 }), 6);
      expect(d.logits(tf.zeros([3, 64, 64, 3]), tf.ones([3, 6]), { training: true }).shape).toEqual([3]);
    });

    it(`${kind} discriminator: three stacked batches (groups: 3) give the logits and gradients of three separate calls`, () => {
      const store = new ParamStore(new Rng(1));
      const d = new Discriminator(store, tinyStage1({ discriminator: kind, ndf: 4 }), 6);
      const images = [0, 1, 2].map((i) => tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', i + 1) as tf.Tensor4D);
      const text = tf.randomNormal([2, 6], 0, 1, 'float32', 9) as tf.Tensor2D;
      const mode = { training: true };
      const separate = () => tf.concat(images.map((x) => d.logits(x, text, mode)));
      const stacked = () => d.logits(tf.concat(images), tf.concat([text, text, text]), { ...mode, groups: 3 });
      const close = (a: tf.Tensor, b: tf.Tensor) => Array.from(a.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i], 4));
      close(stacked(), separate());
      // Not what one batch-norm over all six images gives.
      expect(Math.abs(d.logits(tf.concat(images), tf.concat([text, text, text]), mode).sub(separate()).abs().max().dataSync()[0])).toBeGreaterThan(1e-3);
      const vars = store.trainable('d');
      const loss = (f: () => tf.Tensor) => () => f().mul(tf.linspace(-1, 1, 6)).sum() as tf.Scalar;
      const gs = tf.variableGrads(loss(stacked), vars).grads;
      const gp = tf.variableGrads(loss(separate), vars).grads;
      for (const name of Object.keys(gp)) close(gs[name], gp[name]);
    });
  }
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

describe('4-of-10 caption averaging', () => {
  it('averages k distinct caption vectors of the image, a fresh draw each time', () => {
    // caption k's vector is (k, 10k): any mean of 4 distinct ones is (m, 10m), m = the mean index.
    const all = Float32Array.from({ length: 20 }, (_, i) => (i % 2 ? 10 : 1) * Math.floor(i / 2));
    const rng = new Rng(3);
    const means = new Set<number>();
    for (let t = 0; t < 20; t++) {
      const v = averagedCaption(all, 2, 4, rng);
      expect(v[1]).toBeCloseTo(10 * v[0], 4);
      // four distinct indices of 0..9 sum to between 6 and 30
      expect(v[0] * 4).toBeGreaterThanOrEqual(6 - 1e-4);
      expect(v[0] * 4).toBeLessThanOrEqual(30 + 1e-4);
      means.add(Math.round(v[0] * 4));
    }
    expect(means.size).toBeGreaterThan(3);
    expect(Array.from(averagedCaption(all, 2, 10, rng))).toEqual([4.5, 45]);
  });
});
