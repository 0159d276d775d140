import sharp from 'sharp';
import { writeFileAtomic } from '@t2i/core';

/** [-1, 1] floats (a generator's tanh output) to 0..255 bytes. */
export function toBytes(values: Float32Array): Uint8Array {
  return Uint8Array.from(values, (v) => Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5));
}

export interface GridOptions {
  /** Images per row. */
  cols: number;
  /** Each image is drawn at this side (nearest-neighbour upscaling keeps small images crisp). */
  cell?: number;
  /** Gap between images, in pixels. */
  gap?: number;
}

/**
 * Square RGB images (HWC uint8, `size` x `size`, concatenated) as one PNG grid, with sharp,
 * written atomically.
 */
export async function writeImageGrid(file: string, pixels: Uint8Array, count: number, size: number, options: GridOptions): Promise<void> {
  const { cols, gap = 2 } = options;
  const cell = options.cell ?? size;
  const rows = Math.ceil(count / cols);
  const tiles = await Promise.all(
    Array.from({ length: count }, async (_, i) => ({
      input: await sharp(Buffer.from(pixels.buffer, pixels.byteOffset + i * size * size * 3, size * size * 3), { raw: { width: size, height: size, channels: 3 } })
        .resize(cell, cell, { kernel: 'nearest' })
        .png()
        .toBuffer(),
      left: gap + (i % cols) * (cell + gap),
      top: gap + Math.floor(i / cols) * (cell + gap),
    })),
  );
  const png = await sharp({ create: { width: gap + cols * (cell + gap), height: gap + rows * (cell + gap), channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite(tiles)
    .png()
    .toBuffer();
  await writeFileAtomic(file, png);
}

/** One image as a PNG file, written atomically. */
export async function writePng(file: string, pixels: Uint8Array, width: number, height: number): Promise<void> {
  await writeFileAtomic(file, await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, width * height * 3), { raw: { width, height, channels: 3 } }).png().toBuffer());
}

/** Square RGB images enlarged by nearest neighbour (`size` to `to`, a multiple): each pixel a block, as tf.image.resizeNearestNeighbor makes it. */
export function upscale(pixels: Uint8Array, count: number, size: number, to: number): Uint8Array {
  const k = to / size;
  if (!Number.isInteger(k)) throw new RangeError(`${size} px does not scale to ${to} px by a whole factor`);
  const out = new Uint8Array(count * to * to * 3);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < to; y++) {
      const src = (n * size + Math.floor(y / k)) * size * 3;
      const dst = (n * to + y) * to * 3;
      for (let x = 0; x < to; x++) {
        const from = src + Math.floor(x / k) * 3;
        out[dst + x * 3] = pixels[from];
        out[dst + x * 3 + 1] = pixels[from + 1];
        out[dst + x * 3 + 2] = pixels[from + 2];
      }
    }
  }
  return out;
}
