import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@t2i/backends';
import { Rng } from '@t2i/core';
import { ConditionedLogits, ParamStore } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('conditioned logits (where the text joins a discriminator)', () => {
  it("make one logit an example from [n, 4, 4, c] features, each by its own text alone (layer norm), with weights under the stage's names", () => {
    tf.tidy(() => {
      const store = new ParamStore(new Rng(1));
      const head = new ConditionedLogits(store, 8, 6, 3, 'layer', 'd/logit/conv');
      const names = [...store.variables.keys()].map((k) => k.replace(/^store\d+:/, ''));
      expect(names.filter((n) => !n.startsWith('d/text/') && !n.startsWith('d/joint/'))).toEqual(['d/logit/conv/w']);
      expect(names.some((n) => n.startsWith('d/text/')) && names.some((n) => n.startsWith('d/joint/'))).toBe(true);

      const features = tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 2) as tf.Tensor4D;
      const text = tf.randomNormal([2, 6], 0, 1, 'float32', 3) as tf.Tensor2D;
      const before = head.apply(features, text, { training: true });
      expect(before.shape).toEqual([2]);
      // Another text for the first example only: its logit moves, the second's does not.
      const after = head.apply(features, tf.concat([text.slice([0, 0], [1, 6]).neg(), text.slice([1, 0], [1, 6])]) as tf.Tensor2D, { training: true });
      const [b, a] = [before.dataSync(), after.dataSync()];
      expect(Math.abs(a[0] - b[0])).toBeGreaterThan(1e-4);
      expect(a[1]).toBeCloseTo(b[1], 6);
    });
  });
});
