import { gatherRows, Rng, tileRows } from '@t2i/core';
import { tf } from '@t2i/backends';

/** [n, d] standard normal draws from the JS RNG, so a seed gives the same noise on every backend. */
export function normalTensor(rng: Rng, n: number, d: number): tf.Tensor2D {
  return tf.tensor2d(normals(rng, n * d), [n, d]);
}

const normals = (rng: Rng, count: number) => Float32Array.from({ length: count }, () => rng.normal());

/** The noise of n images, [n, d] each, flattened: Stage I's z and conditioning noise, and Stage II's conditioning noise. */
export interface Noise {
  z: Float32Array;
  eps1: Float32Array;
  eps2?: Float32Array;
}

/** The sizes of Noise's parts: Stage I's zDim and conditionDim, and Stage II's conditionDim where there is a Stage II. */
export interface NoiseDims {
  zDim: number;
  conditionDim1: number;
  conditionDim2?: number;
}

/** Noise of n images drawn from `rng`, in this order: z, Stage I's conditioning noise, Stage II's. */
export function drawNoise(rng: Rng, n: number, dims: NoiseDims): Noise {
  const z = normals(rng, n * dims.zDim);
  const eps1 = normals(rng, n * dims.conditionDim1);
  return dims.conditionDim2 === undefined ? { z, eps1 } : { z, eps1, eps2: normals(rng, n * dims.conditionDim2) };
}

/**
 * Noise from a user's seed, the same through every command: Stage II's from a stream of its own,
 * so that a seed gives the same Stage I images with Stage II or without it.
 */
export function seededNoise(seed: number, n: number, dims: NoiseDims): Noise {
  const stage1 = drawNoise(new Rng(seed), n, { zDim: dims.zDim, conditionDim1: dims.conditionDim1 });
  if (dims.conditionDim2 === undefined) return stage1;
  return { ...stage1, eps2: normals(new Rng(seed ^ 0x5eed2), n * dims.conditionDim2) };
}

/** A checkpoint grid's noise: `columns` draws from the run's seed, the same in every row and at every epoch, so grids compare. */
export function gridNoise(seed: number, columns: number, rows: number, dims: NoiseDims): Noise {
  const drawn = drawNoise(new Rng(seed + 7919), columns, dims);
  return mapNoise(drawn, dims, (v, d) => tileRows(v, d, rows));
}

/** The noise of chosen images, in the order given (indices may repeat). */
export const noiseRows = (noise: Noise, dims: NoiseDims, indices: readonly number[]): Noise => mapNoise(noise, dims, (v, d) => gatherRows(v, d, indices));

function mapNoise(noise: Noise, dims: NoiseDims, f: (values: Float32Array, d: number) => Float32Array): Noise {
  const z = f(noise.z, dims.zDim);
  const eps1 = f(noise.eps1, dims.conditionDim1);
  return noise.eps2 && dims.conditionDim2 !== undefined ? { z, eps1, eps2: f(noise.eps2, dims.conditionDim2) } : { z, eps1 };
}
