import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { beforeAll, describe, expect, it } from 'vitest';
import { backProjected, Generator, keepInRange, projectedOnto, toStage1Size, upscaleBilinear } from '../src/model.ts';
import { buildStage2, stage2Losses, type Stage2Batch } from '../src/train.ts';
import { tinyStage2 } from './fixtures.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const maxAbs = (t: tf.Tensor) => t.abs().max().dataSync()[0];

/** A batch of 2: real and wrong 256 images, text of dim 6, Stage I images at 64. */
const batch = (real: tf.Tensor4D, lowRes: tf.Tensor4D): Stage2Batch => ({ real, wrong: real.reverse(0), text: tf.ones([2, 6]), lowRes });

/** 256 images of ±0.5 in a one-pixel checkerboard: their 4x4 box means are all 0. */
const checkerboard = (): tf.Tensor4D =>
  tf.tidy(() => {
    const i = tf.range(0, 256).reshape([256, 1]);
    const j = tf.range(0, 256).reshape([1, 256]);
    const sign = i.add(j).mod(2).mul(2).sub(1); // −1, +1 alternating
    return sign.mul(0.5).reshape([1, 256, 256, 1]).tile([2, 1, 1, 3]) as tf.Tensor4D;
  });

describe("Stage II's departures from StackGAN", () => {
  it('with the input skip, an untrained generator returns its Stage I image upscaled, in training and inference mode', () => {
    const g = new Generator(new ParamStore(new Rng(1)), tinyStage2({ ngf: 8, inputSkip: true }), 6);
    tf.tidy(() => {
      const image = tf.randomUniform([2, 64, 64, 3], -0.99, 0.99, 'float32', 3) as tf.Tensor4D;
      const { c } = g.ca.apply(tf.ones([2, 6]), tf.randomNormal([2, 3]));
      for (const training of [true, false]) expect(maxAbs(g.generate(image, c, { training }).sub(upscaleBilinear(image, 256)))).toBeLessThan(1e-5);
    });
  });

  it('detail only: whatever its weights, the generator\'s image box-filtered to 64 is its Stage I image, and its 256 image is not the upscale', () => {
    const store = new ParamStore(new Rng(1));
    const g = new Generator(store, tinyStage2({ ngf: 8, detailOnly: true }), 6);
    tf.tidy(() => {
      // Smooth enough that the back-projection stays inside ±1, where nothing is clipped.
      const image = upscaleBilinear(tf.randomUniform([2, 16, 16, 3], -0.6, 0.6, 'float32', 3) as tf.Tensor4D, 64);
      const { c } = g.ca.apply(tf.ones([2, 6]), tf.randomNormal([2, 3]));
      // Untrained: the back-projected upscale, whose 4x4 means are the image (a plain upscale's are not).
      expect(maxAbs(g.generate(image, c, { training: false }).sub(backProjected(image)))).toBeLessThan(1e-5);
      expect(maxAbs(toStage1Size(backProjected(image)).sub(image))).toBeLessThan(1e-5);
      expect(maxAbs(toStage1Size(upscaleBilinear(image, 256)).sub(image))).toBeGreaterThan(0.01);
      // Trained or not: random weights everywhere, the zero-initialised last conv included.
      for (const v of store.list()) v.assign(tf.randomNormal(v.shape, 0, 0.05, 'float32', 7));
      const out = g.generate(image, c, { training: true });
      expect(maxAbs(out.sub(backProjected(image)))).toBeGreaterThan(0.01);
      expect(maxAbs(toStage1Size(out).sub(image))).toBeLessThan(1e-5);
    });
    store.dispose();
  });

  it('detail only, with weights large enough to push pixels far past ±1: every pixel stays inside ±1 and every 4x4 mean on its Stage I pixel', () => {
    const store = new ParamStore(new Rng(1));
    const g = new Generator(store, tinyStage2({ ngf: 8, detailOnly: true }), 6);
    tf.tidy(() => {
      const image = tf.randomUniform([2, 64, 64, 3], -0.99, 0.99, 'float32', 3) as tf.Tensor4D;
      const { c } = g.ca.apply(tf.ones([2, 6]), tf.randomNormal([2, 3]));
      for (const v of store.list()) v.assign(tf.randomNormal(v.shape, 0, 1, 'float32', 7));
      const out = g.generate(image, c, { training: true });
      // Some pixels sit on the bound: they were drawn in, not clipped.
      expect(maxAbs(out)).toBeGreaterThan(1 - 1e-4);
      expect(maxAbs(out)).toBeLessThanOrEqual(1 + 1e-6);
      expect(maxAbs(toStage1Size(out).sub(image))).toBeLessThan(1e-5);
    });
    store.dispose();
  });

  it('projected when drawing: the image drawn is its Stage I image box-filtered to 64, inside ±1; in training the generator\'s own output', () => {
    const [store, other] = [new ParamStore(new Rng(1)), new ParamStore(new Rng(1))];
    const config = tinyStage2({ ngf: 8, inputSkip: true });
    const plain = new Generator(store, config, 6);
    const projecting = new Generator(other, { ...config, projectWhenDrawing: true }, 6);
    tf.tidy(() => {
      const image = tf.randomUniform([2, 64, 64, 3], -0.99, 0.99, 'float32', 3) as tf.Tensor4D;
      const { c } = plain.ca.apply(tf.ones([2, 6]), tf.randomNormal([2, 3]));
      // The same trained-looking weights in both (batch norm's moving statistics left as they start).
      for (const [name, v] of store.variables) {
        if (name.includes('moving')) continue;
        v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', 7));
        other.variables.get(name)!.assign(v);
      }
      expect(maxAbs(projecting.generate(image, c, { training: true }).sub(plain.generate(image, c, { training: true })))).toBe(0);
      const own = plain.generate(image, c, { training: false });
      expect(maxAbs(toStage1Size(own).sub(image))).toBeGreaterThan(0.05);
      const drawn = projecting.generate(image, c, { training: false });
      expect(maxAbs(toStage1Size(drawn).sub(image))).toBeLessThan(1e-5);
      expect(maxAbs(drawn)).toBeLessThanOrEqual(1 + 1e-6);
    });
    store.dispose();
    other.dispose();
  });

  it('the projection changes an image smoothly: far less energy at the finest scale than one blockwise step, for the same block means', () => {
    tf.tidy(() => {
      // A smooth 256 image whose 4x4 means are off a smooth target by a smooth amount, as a trained Stage II's are.
      const x = upscaleBilinear(tf.randomUniform([2, 8, 8, 3], -0.5, 0.5, 'float32', 3) as tf.Tensor4D, 256);
      const image = upscaleBilinear(tf.randomUniform([2, 8, 8, 3], -0.5, 0.5, 'float32', 4) as tf.Tensor4D, 64);
      const projected = projectedOnto(x, image);
      const blockwise = x.add(tf.image.resizeNearestNeighbor(image.sub<tf.Tensor4D>(toStage1Size(x)), [256, 256])) as tf.Tensor4D;
      expect(maxAbs(toStage1Size(projected).sub(image))).toBeLessThan(1e-5);
      expect(maxAbs(toStage1Size(blockwise).sub(image))).toBeLessThan(1e-5);
      // The finest band: an image less its 2x2 means upscaled back.
      const finest = (y: tf.Tensor4D) => y.sub(upscaleBilinear(tf.avgPool(y, 2, 2, 'valid'), 256)).abs().mean().dataSync()[0];
      const change = (y: tf.Tensor4D) => finest(y.sub(x) as tf.Tensor4D);
      expect(change(projected)).toBeLessThan(change(blockwise) / 3);
    });
  });

  it('keepInRange leaves a block inside ±1 as it is, and scales a block that overshoots just onto the bound', () => {
    tf.tidy(() => {
      const image = tf.fill([1, 64, 64, 1], 0.5) as tf.Tensor4D;
      // One 4x4 block of mean 0.5 that reaches 0.9 (kept) and one that reaches 2.5 (drawn in to 1).
      const x = tf.buffer([1, 256, 256, 1]);
      for (let i = 0; i < 256; i++) for (let j = 0; j < 256; j++) x.set(0.5, 0, i, j, 0);
      for (const [at, d] of [[0, 0.4], [4, 2]] as const) {
        for (let k = 0; k < 16; k++) x.set(0.5 + (k < 8 ? d : -d), 0, Math.floor(k / 4), at + (k % 4), 0);
      }
      const out = keepInRange(x.toTensor() as tf.Tensor4D, image);
      const row = Array.from(out.slice([0, 0, 0, 0], [1, 1, 8, 1]).dataSync());
      expect(row.slice(0, 4).map((v) => +v.toFixed(5))).toEqual([0.9, 0.9, 0.9, 0.9]);
      expect(row.slice(4, 8).map((v) => +v.toFixed(5))).toEqual([1, 1, 1, 1]);
      expect(maxAbs(toStage1Size(out).sub(image))).toBeLessThan(1e-6);
    });
  });

  it("without it, the paper's generator does not (and has no zero-initialised layer)", () => {
    const g = new Generator(new ParamStore(new Rng(1)), tinyStage2({ ngf: 8 }), 6);
    tf.tidy(() => {
      const image = tf.randomUniform([2, 64, 64, 3], -0.99, 0.99, 'float32', 3) as tf.Tensor4D;
      const { c } = g.ca.apply(tf.ones([2, 6]), tf.zeros([2, 3]));
      expect(maxAbs(g.generate(image, c, { training: true }).sub(upscaleBilinear(image, 256)))).toBeGreaterThan(0.1);
    });
  });

  it('the consistency and upsampler terms: weighted L1 at 64 against the Stage I image, and at 256 on real pairs, added to the loss and logged', () => {
    const config = tinyStage2({ inputSkip: true, consistencyWeight: 3, upsamplerWeight: 5 });
    const models = buildStage2(config, 6);
    const losses = stage2Losses(models, config);
    tf.tidy(() => {
      // The untrained skip generator draws a flat 0.25 from a flat Stage I image (consistency 0),
      // and turns the checkerboard's flat 4x4 means (0) into 0 (upsampler L1: 0.5 everywhere).
      const flat = tf.fill([2, 64, 64, 3], 0.25) as tf.Tensor4D;
      const { total, parts } = losses.generatorLoss(batch(checkerboard(), flat), { training: true }, new Rng(2));
      expect(parts.consistency.dataSync()[0]).toBeCloseTo(0, 5);
      expect(parts.upsampler.dataSync()[0]).toBeCloseTo(5 * 0.5, 5);
      const sum = parts.adversarial.add(parts.kl.mul(config.klWeight)).add(parts.consistency).add(parts.upsampler);
      expect(total.dataSync()[0]).toBeCloseTo(sum.dataSync()[0], 5);
      // A white Stage I image comes back as 0.995, where the skip keeps atanh finite: 3 x 0.005.
      const white = losses.generatorLoss(batch(checkerboard(), tf.ones([2, 64, 64, 3])), { training: true }, new Rng(2));
      expect(white.parts.consistency.dataSync()[0]).toBeCloseTo(3 * 0.005, 5);
      expect(maxAbs(toStage1Size(tf.fill([1, 256, 256, 3], 0.25)).sub(0.25))).toBeLessThan(1e-6);
    });
    models.store.dispose();
  });

  it('off, the generator loss has only the paper\'s terms', () => {
    const config = tinyStage2();
    const models = buildStage2(config, 6);
    tf.tidy(() => {
      const { parts } = stage2Losses(models, config).generatorLoss(batch(checkerboard(), tf.zeros([2, 64, 64, 3])), { training: true }, new Rng(2));
      expect(Object.keys(parts).sort()).toEqual(['adversarial', 'kl']);
    });
    models.store.dispose();
  });
});
