import sharp from 'sharp';
import { writeFileAtomic } from '@t2i/core';

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
