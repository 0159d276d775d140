import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('cpu ResizeNearestNeighborGrad', () => {
  const gradient = (x: tf.Tensor4D, w: tf.Tensor4D, alignCorners: boolean, halfPixelCenters = false) =>
    tf.grad((input: tf.Tensor) => tf.image.resizeNearestNeighbor(input as tf.Tensor4D, [w.shape[1], w.shape[2]], alignCorners, halfPixelCenters).mul(w).sum())(x);

  it('a 2x upscale: each input pixel gets the sum of its 2x2 block, for every image of the batch', () => {
    const x = tf.randomNormal([3, 3, 4, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([3, 6, 8, 2], 0, 1, 'float32', 2) as tf.Tensor4D;
    const want = tf.avgPool(w, 2, 2, 'valid').mul(4);
    expect(tf.abs(gradient(x, w, false).sub(want)).max().dataSync()[0]).toBeLessThan(1e-5);
  });

  for (const [alignCorners, halfPixelCenters] of [[false, false], [true, false], [false, true]]) {
    it(`any scale (3x5 -> 7x4), alignCorners ${alignCorners}, halfPixelCenters ${halfPixelCenters}: the gradient of sum(resize(x) * w) is, per input pixel, the sum of w over the output pixels that read it`, () => {
      const x = tf.randomNormal([2, 3, 5, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
      const w = tf.randomNormal([2, 7, 4, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
      // Which input pixel each output pixel reads, found from the forward pass itself (pixel ids as values).
      const ids = tf.range(0, 3 * 5).reshape([1, 3, 5, 1]);
      const read = tf.image.resizeNearestNeighbor(ids as tf.Tensor4D, [7, 4], alignCorners, halfPixelCenters).dataSync();
      const wv = w.dataSync();
      const want = new Float32Array(2 * 3 * 5 * 2);
      for (let b = 0; b < 2; b++) for (let p = 0; p < 7 * 4; p++) for (let d = 0; d < 2; d++) want[(b * 15 + read[p]) * 2 + d] += wv[(b * 28 + p) * 2 + d];
      const got = gradient(x, w, alignCorners, halfPixelCenters).dataSync();
      got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    });
  }
});
