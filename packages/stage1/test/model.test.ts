import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildGenerator, Discriminator } from '../src/model.ts';
import { tinyStage1 } from './fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Stage I blocks', () => {
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
