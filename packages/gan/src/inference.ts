import { tf } from '@t2i/backends';
import type { ConditioningAugmentation } from './conditioning.ts';
import { toBytes } from './pixels.ts';
import type { Mode } from './layers.ts';
import type { Noise, NoiseDims } from './noise.ts';

/** What inference needs of a Stage I generator: its conditioning augmentation, and the image from (c, z). */
export interface StageOneGenerator {
  readonly ca: ConditioningAugmentation;
  generate(c: tf.Tensor2D, z: tf.Tensor2D, mode: Mode): tf.Tensor4D;
}

/** What inference needs of a Stage II generator: its own conditioning augmentation, and the refinement of Stage I's image. */
export interface StageTwoGenerator {
  readonly ca: ConditioningAugmentation;
  generate(image: tf.Tensor4D, c: tf.Tensor2D, mode: Mode): tf.Tensor4D;
}

/** StackGAN at inference: a Stage I generator and, where there is one, the Stage II generator that refines its images. */
export interface Generators {
  textDim: number;
  stage1: StageOneGenerator;
  stage2?: StageTwoGenerator;
  /** Its noise's sizes; conditionDim2 is Stage II's. */
  dims: NoiseDims;
}

/**
 * Text vectors [n, textDim] through Stage I (64x64) and, where there is a Stage II and noise for
 * it, Stage II (256x256) from Stage I's own images: one caption and one noise draw give the pair.
 * Inference mode (batch norm's moving averages), values in [-1, 1].
 */
export function generateImages(g: Generators, text: Float32Array, noise: Noise): { low: tf.Tensor4D; high?: tf.Tensor4D } {
  const n = text.length / g.textDim;
  const { zDim, conditionDim1, conditionDim2 } = g.dims;
  return tf.tidy(() => {
    const vectors = tf.tensor2d(text, [n, g.textDim]);
    const { c } = g.stage1.ca.apply(vectors, tf.tensor2d(noise.eps1, [n, conditionDim1]));
    const low = g.stage1.generate(c, tf.tensor2d(noise.z, [n, zDim]), { training: false });
    if (!g.stage2 || !noise.eps2 || conditionDim2 === undefined) return { low };
    const code = g.stage2.ca.apply(vectors, tf.tensor2d(noise.eps2, [n, conditionDim2])).c;
    return { low, high: g.stage2.generate(low, code, { training: false }) };
  });
}

/** generateImages as RGB bytes, `chunk` images a call: a paper-width Stage II's 256x256 feature maps are large. */
export async function generatePixels(g: Generators, text: Float32Array, noise: Noise, chunk = 8): Promise<{ low: Uint8Array; high?: Uint8Array }> {
  const n = text.length / g.textDim;
  const { zDim, conditionDim1, conditionDim2 } = g.dims;
  const parts: { low: Uint8Array[]; high: Uint8Array[] } = { low: [], high: [] };
  for (let start = 0; start < n; start += chunk) {
    const rows = (v: Float32Array, d: number) => v.subarray(start * d, Math.min(n, start + chunk) * d);
    const images = generateImages(g, rows(text, g.textDim), {
      z: rows(noise.z, zDim),
      eps1: rows(noise.eps1, conditionDim1),
      eps2: noise.eps2 && conditionDim2 !== undefined ? rows(noise.eps2, conditionDim2) : undefined,
    });
    parts.low.push(toBytes((await images.low.data()) as Float32Array));
    if (images.high) parts.high.push(toBytes((await images.high.data()) as Float32Array));
    tf.dispose([images.low, ...(images.high ? [images.high] : [])]);
  }
  return { low: concat(parts.low), high: parts.high.length ? concat(parts.high) : undefined };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
