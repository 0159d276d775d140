import type { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';

/** [n, d] standard normal draws from the JS RNG, so a seed gives the same noise on every backend. */
export function normalTensor(rng: Rng, n: number, d: number): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: n * d }, () => rng.normal()), [n, d]);
}
