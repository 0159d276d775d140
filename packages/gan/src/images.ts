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

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Pictures of one size (grids of runs to compare) side by side, `cols` a row, each under its
 * label: one file to look at instead of several. JPEG (quality 85) when the name ends so, else PNG.
 */
export async function writeLabelledMontage(file: string, pictures: { file: string; label: string }[], cols: number): Promise<void> {
  if (pictures.length === 0) throw new RangeError('writeLabelledMontage: no pictures');
  const { width = 0, height = 0 } = await sharp(pictures[0].file).metadata();
  const labelHeight = 28;
  const gap = 8;
  const cellW = width + gap;
  const cellH = height + labelHeight + gap;
  const rows = Math.ceil(pictures.length / cols);
  const tiles = (
    await Promise.all(
      pictures.map(async (p, i) => {
        const left = gap + (i % cols) * cellW;
        const top = gap + Math.floor(i / cols) * cellH;
        const label = `<svg width="${width}" height="${labelHeight}"><text x="2" y="20" font-family="sans-serif" font-size="18">${escapeXml(p.label)}</text></svg>`;
        return [
          { input: Buffer.from(label), left, top },
          { input: await sharp(p.file).resize(width, height, { fit: 'contain', background: '#ffffff' }).removeAlpha().png().toBuffer(), left, top: top + labelHeight },
        ];
      }),
    )
  ).flat();
  const composed = await sharp({ create: { width: gap + cols * cellW, height: gap + rows * cellH, channels: 3, background: { r: 255, g: 255, b: 255 } } }).composite(tiles).png().toBuffer();
  // The labels' SVG brings an alpha channel; the picture has none to show.
  const flat = sharp(composed).removeAlpha();
  await writeFileAtomic(file, await (/\.jpe?g$/i.test(file) ? flat.jpeg({ quality: 85 }) : flat.png()).toBuffer());
}
