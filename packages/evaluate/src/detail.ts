import { tf } from '@t2i/backends';
import { SOURCE_SIZE, loadImageSet } from 'preprocess-images';
import { SIZE } from 't2i';
import { centreCrops } from './classifier.ts';
import { frechetDistance, gaussianOf } from './metrics.ts';

/**
 * The detail score: how much fine detail 256x256 images hold, against real photos at 256. Every
 * other score sees images box-filtered to 64, where a Stage II and a plain upscale of its Stage I
 * look alike; this one reads the bands between 256 and 16 px of a Laplacian pyramid of the luma.
 */

/** Bands measured, finest first: 256->128, 128->64, 64->32, 32->16 (for 256 px images). */
export const DETAIL_BANDS = 4;
/** The bands an upscale from 64 cannot fill: the ratio reads these. */
const FINE_BANDS = 2;
/** Added to each energy before its log: detail under a quarter of a grey level counts as none (uint8 rounding alone leaves about that much). */
const ENERGY_FLOOR = 1e-3;
/** Rec. 601 luma weights, as JPEG's Y. */
const LUMA = [0.299, 0.587, 0.114];

/**
 * Per image, the mean |band| of each band of the Laplacian pyramid of its luma (on [0, 1]),
 * finest first: band = x - upsample(avgPool2(x)), upsampled bilinearly (half-pixel centres), then
 * x = avgPool2(x) for the next. images: [n, s, s, 3] in [-1, 1], s a multiple of 2^levels.
 * Returns [n, levels]; a flat image's energies are all 0.
 */
export function bandEnergies(images: tf.Tensor4D, levels = DETAIL_BANDS): tf.Tensor2D {
  const side = images.shape[1];
  if (side % 2 ** levels !== 0) throw new RangeError(`${side} px images do not halve ${levels} times`);
  return tf.tidy(() => {
    // The luma weights sum to 1, so [-1, 1] maps to [0, 1] after the weighting.
    let x: tf.Tensor4D = images.mul(tf.tensor1d(LUMA)).sum(3, true).add(1).div(2);
    const energies: tf.Tensor1D[] = [];
    for (let level = 0; level < levels; level++) {
      const [h, w] = [x.shape[1], x.shape[2]];
      const coarser = tf.avgPool(x, 2, 2, 'valid');
      const band = x.sub(tf.image.resizeBilinear(coarser, [h, w], false, true));
      energies.push(band.abs().mean([1, 2, 3]));
      x = coarser;
    }
    return tf.stack(energies, 1) as tf.Tensor2D;
  });
}

/** bandEnergies of many images, batch by batch; `batch(start, count)` makes the [-1, 1] input. */
export async function bandEnergiesOf(n: number, batchSize: number, batch: (start: number, count: number) => tf.Tensor4D): Promise<Float32Array> {
  const out = new Float32Array(n * DETAIL_BANDS);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const energies = tf.tidy(() => bandEnergies(batch(start, count)));
    out.set((await energies.data()) as Float32Array, start * DETAIL_BANDS);
    energies.dispose();
  }
  return out;
}

/** Mean of each band over the images: [n, DETAIL_BANDS] -> DETAIL_BANDS. */
export function meanEnergies(energies: Float32Array): number[] {
  const n = energies.length / DETAIL_BANDS;
  const means = new Array<number>(DETAIL_BANDS).fill(0);
  for (let i = 0; i < n; i++) for (let b = 0; b < DETAIL_BANDS; b++) means[b] += energies[i * DETAIL_BANDS + b] / n;
  return means;
}

const logEnergies = (energies: Float32Array) => Float64Array.from(energies, (e) => Math.log(e + ENERGY_FLOOR));

export interface Detail {
  /** Fréchet distance between the images' and the real images' log band energies: lower is better. */
  distance: number;
  /** Mean energy of the finest bands over the real images': 1 = as detailed as real photos, near 0 = a plain upscale. */
  fineEnergyRatio: number;
  /** Mean energy of each band, finest first. */
  meanEnergy: number[];
}

/** The detail score of images' band energies against real images' ([n, DETAIL_BANDS] each). */
export function detailScore(generated: Float32Array, real: Float32Array): Detail {
  const meanEnergy = meanEnergies(generated);
  const realMean = meanEnergies(real);
  const fine = (means: number[]) => means.slice(0, FINE_BANDS).reduce((a, b) => a + b, 0);
  return {
    distance: frechetDistance(gaussianOf(logEnergies(generated), DETAIL_BANDS), gaussianOf(logEnergies(real), DETAIL_BANDS)),
    fineEnergyRatio: fine(meanEnergy) / fine(realMean),
    meanEnergy,
  };
}

/** Band energies of every real test-class image: centre 256 crops of images-304.arrow, its test rows alone, let go once measured. */
export async function realTestBandEnergies(batchSize: number): Promise<Float32Array> {
  const images = await loadImageSet(SOURCE_SIZE.stage2, (split) => split === 'test');
  const rows = Array.from(images.ids, (_, i) => i);
  return bandEnergiesOf(rows.length, batchSize, (start, count) => centreCrops(images, rows.slice(start, start + count), SIZE[2]));
}
