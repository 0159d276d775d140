import { describe, expect, it } from 'vitest';
import { upscaleImages } from '../src/index.ts';

describe('upscaleImages', () => {
  it('returns every image at the new side, and keeps a flat colour flat', async () => {
    const size = 8;
    const colours = [
      [10, 200, 77],
      [255, 0, 128],
    ];
    const pixels = Uint8Array.from({ length: 2 * size * size * 3 }, (_, i) => colours[Math.floor(i / (size * size * 3))][i % 3]);
    const out = await upscaleImages(pixels, 2, size, 32);
    expect(out.length).toBe(2 * 32 * 32 * 3);
    colours.forEach((colour, n) => {
      const image = out.subarray(n * 32 * 32 * 3, (n + 1) * 32 * 32 * 3);
      for (let c = 0; c < 3; c++) expect(new Set(image.filter((_, i) => i % 3 === c))).toEqual(new Set([colour[c]]));
    });
  });

  it('keeps each image apart: an edge stays where it was, scaled', async () => {
    // Left half black, right half white: upscaled 4x, the outer quarters are still pure.
    const size = 8;
    const pixels = Uint8Array.from({ length: size * size * 3 }, (_, i) => (Math.floor(i / 3) % size < size / 2 ? 0 : 255));
    const out = await upscaleImages(pixels, 1, size, 32);
    const at = (y: number, x: number) => out[(y * 32 + x) * 3];
    for (const y of [0, 15, 31]) {
      expect(at(y, 2)).toBe(0);
      expect(at(y, 29)).toBe(255);
    }
  });

  it('refuses pixels of another count or size', async () => {
    await expect(upscaleImages(new Uint8Array(10), 1, 8, 32)).rejects.toThrow(/1 8x8 RGB images need 192 bytes, got 10/);
  });
});
