import type { Rng } from './rng.ts';

/** Square RGB images, NHWC, uint8: how preprocess-images stores them. */
export interface ImageBatch {
  pixels: Uint8Array;
  count: number;
  size: number;
}

export interface AugmentOptions {
  /** Side of the output crop (64 from 76, 256 from 304). */
  crop: number;
  /** 'random' for training; 'center' for evaluation, where the same image must give the same input. */
  mode: 'random' | 'center';
  /** Random horizontal flip, training only. */
  flip: boolean;
  /**
   * Random colour jitter that keeps hue, training only: each image's saturation (its distance from
   * grey) and then its brightness scaled by factors drawn from [1 - jitter, 1 + jitter]. 0 or absent: none.
   */
  jitter?: number;
}

/**
 * StackGAN's training-time augmentation, over a batch: a crop of side `crop`, an optional
 * horizontal flip, optional colour jitter, and scaling from [0, 255] to [-1, 1]. Returns NHWC float32.
 */
export function augmentBatch(batch: ImageBatch, options: AugmentOptions, rng: Rng): Float32Array {
  const { pixels, count, size } = batch;
  const { crop } = options;
  if (crop > size) throw new RangeError(`crop ${crop} is larger than the ${size}x${size} images`);
  if (pixels.length !== count * size * size * 3) {
    throw new RangeError(`batch of ${count} ${size}x${size} RGB images needs ${count * size * size * 3} bytes, got ${pixels.length}`);
  }
  const out = new Float32Array(count * crop * crop * 3);
  const slack = size - crop;
  for (let n = 0; n < count; n++) {
    const top = options.mode === 'random' ? rng.int(slack + 1) : slack >> 1;
    const left = options.mode === 'random' ? rng.int(slack + 1) : slack >> 1;
    const flip = options.flip && options.mode === 'random' && rng.next() < 0.5;
    const jitter = options.jitter && options.mode === 'random' ? options.jitter : 0;
    // Drawn only when asked, so that runs without jitter keep their random sequence.
    const saturation = jitter ? 1 + jitter * (2 * rng.next() - 1) : 1;
    const brightness = jitter ? 1 + jitter * (2 * rng.next() - 1) : 1;
    const src = n * size * size * 3;
    const dst = n * crop * crop * 3;
    for (let y = 0; y < crop; y++) {
      const srcRow = src + ((top + y) * size + left) * 3;
      const dstRow = dst + y * crop * 3;
      for (let x = 0; x < crop; x++) {
        const s = srcRow + (flip ? crop - 1 - x : x) * 3;
        const d = dstRow + x * 3;
        if (!jitter) {
          out[d] = pixels[s] / 127.5 - 1;
          out[d + 1] = pixels[s + 1] / 127.5 - 1;
          out[d + 2] = pixels[s + 2] / 127.5 - 1;
          continue;
        }
        // Scaling every channel's distance from the pixel's grey alike keeps the hue.
        const grey = 0.299 * pixels[s] + 0.587 * pixels[s + 1] + 0.114 * pixels[s + 2];
        for (let c = 0; c < 3; c++) {
          const v = (grey + (pixels[s + c] - grey) * saturation) * brightness;
          out[d + c] = Math.min(255, Math.max(0, v)) / 127.5 - 1;
        }
      }
    }
  }
  return out;
}

/** augmentBatch over chosen rows of a larger set of images (the rows of a training batch). */
export function augmentRows(images: { pixels: Uint8Array; size: number }, rows: readonly number[], options: AugmentOptions, rng: Rng): Float32Array {
  const stride = images.size * images.size * 3;
  const pixels = new Uint8Array(rows.length * stride);
  rows.forEach((r, i) => pixels.set(images.pixels.subarray(r * stride, (r + 1) * stride), i * stride));
  return augmentBatch({ pixels, count: rows.length, size: images.size }, options, rng);
}
