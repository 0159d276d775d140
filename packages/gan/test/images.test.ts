import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLabelledMontage, writePng } from '../src/images.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-montage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A 64x64 picture of one colour. */
async function plain(name: string, rgb: [number, number, number]): Promise<string> {
  const file = path.join(dir, `${name}.png`);
  await writePng(file, new Uint8Array(64 * 64 * 3).map((_, i) => rgb[i % 3]), 64, 64);
  return file;
}

describe('writeLabelledMontage', () => {
  it('puts each picture, unchanged, under its label, cols a row', async () => {
    const colours: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
    const pictures = await Promise.all(colours.map(async (c, i) => ({ file: await plain(`p${i}`, c), label: `run ${i}` })));
    const out = path.join(dir, 'montage.png');
    await writeLabelledMontage(out, pictures, 2);
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    // 8 px gaps, a 28 px label above each 64 px picture: two columns, two rows.
    expect([info.width, info.height]).toEqual([8 + 2 * 72, 8 + 2 * (64 + 28 + 8)]);
    const at = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
    const origins = [[8, 8], [80, 8], [8, 108]];
    origins.forEach(([x, y], i) => {
      expect(at(x + 32, y + 28 + 32)).toEqual(colours[i]);
      // The label: dark text on white somewhere in its strip.
      const strip = Array.from({ length: 64 * 28 }, (_, k) => at(x + (k % 64), y + Math.floor(k / 64)));
      expect(strip.some((p) => p.every((v) => v < 128))).toBe(true);
    });
    // The fourth cell is empty.
    expect(at(80 + 32, 108 + 28 + 32)).toEqual([255, 255, 255]);
  });
});
