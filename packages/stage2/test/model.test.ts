import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { beforeAll, describe, expect, it } from 'vitest';
import { Discriminator, Generator } from '../src/model.ts';
import { tinyStage2 } from './fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('Stage II blocks', () => {
  for (const residualBlocks of [0, 2]) {
    it(`generator with ${residualBlocks} residual blocks: [n, 64, 64, 3] + c -> [n, 16, 16, 4 ngf] -> [n, 256, 256, 3] in [-1, 1] (in training mode, changing with the image and with c)`, () => {
      const config = tinyStage2({ ngf: 8, residualBlocks });
      const g = new Generator(new ParamStore(new Rng(1)), config, 6);
      const image = tf.randomUniform([2, 64, 64, 3], -1, 1) as tf.Tensor4D;
      for (const training of [true, false]) {
        tf.tidy(() => {
          expect(g.encode(image, { training }).shape).toEqual([2, 16, 16, 32]);
          const { c } = g.ca.apply(tf.ones([2, 6]), tf.randomNormal([2, config.conditionDim]));
          expect(c.shape).toEqual([2, config.conditionDim]);
          const out = g.generate(image, c, { training });
          expect(out.shape).toEqual([2, 256, 256, 3]);
          expect(out.abs().max().dataSync()[0]).toBeLessThanOrEqual(1);
          // Untrained, inference mode's moving variance (1) shrinks every image to near 0: only training mode can show what changes it.
          if (training) {
            const apart = (other: tf.Tensor) => out.sub(other).abs().max().dataSync()[0];
            expect(apart(g.generate(image, c.neg(), { training }))).toBeGreaterThan(1e-3);
            expect(apart(g.generate(image.neg(), c, { training }))).toBeGreaterThan(1e-3);
          }
        });
      }
    });
  }

  it('discriminator: [n, 256, 256, 3] -> [n, 4, 4, 8 ndf] features; with text -> [n] logits', () => {
    const d = new Discriminator(new ParamStore(new Rng(1)), tinyStage2({ ndf: 2 }), 6);
    tf.tidy(() => {
      const images = tf.zeros([3, 256, 256, 3]) as tf.Tensor4D;
      expect(d.features(images, { training: true }).shape).toEqual([3, 4, 4, 16]);
      expect(d.logits(images, tf.ones([3, 6]), { training: true }).shape).toEqual([3]);
      expect(d.logits(images, tf.ones([3, 6]), { training: false }).shape).toEqual([3]);
    });
  });

  it('its own conditioning augmentation, no conv biases, and no parameter outside g/, ca/ and d/', () => {
    const store = new ParamStore(new Rng(1));
    new Generator(store, tinyStage2(), 6);
    new Discriminator(store, tinyStage2(), 6);
    const names = [...store.variables.keys()];
    expect(names).toContain('ca/fc/w');
    expect(names.filter((n) => !/^(g|ca|d)\//.test(n))).toEqual([]);
    // Biases belong to the dense layers only (CA and the discriminator's text projection).
    expect(names.filter((n) => n.endsWith('/b'))).toEqual(['ca/fc/b', 'd/text/b']);
  });

  it('discriminator under loss wgan-gp with auxClassLoss: a critic with layer norm for every batch norm, and an auxiliary classifier head from its features to class logits', () => {
    const plain = new ParamStore(new Rng(1));
    new Discriminator(plain, tinyStage2({ ndf: 2 }), 6);
    const store = new ParamStore(new Rng(1));
    const d = new Discriminator(store, tinyStage2({ ndf: 2, loss: 'wgan-gp', auxClassLoss: 1 }), 6, 5);
    const names = [...store.variables.keys()];
    expect(names.filter((n) => n.includes('/bn/'))).toEqual([]);
    const batchNorms = [...plain.variables.keys()].filter((n) => n.endsWith('/bn/gamma_beta'));
    expect(names.filter((n) => n.includes('/ln/'))).toEqual(batchNorms.map((n) => n.replace('/bn/', '/ln/')));
    expect(names.filter((n) => n.startsWith('d/classifier'))).toEqual(['d/classifier/w', 'd/classifier/b']);
    tf.tidy(() => {
      expect(d.classify!(d.features(tf.zeros([3, 256, 256, 3]), { training: true })).shape).toEqual([3, 5]);
    });
  });
});

