import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDataset, removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { BadInputError, readBatches } from '@t2i/core';
import { centerCropResize, imagesFile, preprocessImages } from '../src/index.ts';

const dirs: string[] = [];
const track = (d: string) => (dirs.push(d), d);
afterEach(() => dirs.splice(0).forEach(removeDir));

const options = (dataDir: string, outDir: string) => ({ dataDir, outDir, sizes: [8, 16], concurrency: 2, batchRows: 3, skipBad: false });

describe('centerCropResize', () => {
  it('keeps the centred square of the shorter side', async () => {
    // 120x80: green margins 20 px wide, red then blue in the centre 80x80.
    const width = 120, height = 80;
    const raw = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) raw.set(x < 20 || x >= 100 ? [0, 255, 0] : x < 60 ? [255, 0, 0] : [0, 0, 255], (y * width + x) * 3);
    const file = path.join(track(tempDir()), 'a.png');
    await sharp(raw, { raw: { width, height, channels: 3 } }).png().toFile(file);
    const [small] = await centerCropResize(file, [8]);
    expect(small.length).toBe(8 * 8 * 3);
    const at = (y: number, x: number) => Array.from(small.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3));
    for (const y of [0, 4, 7]) {
      expect(at(y, 0)).toEqual([255, 0, 0]);
      expect(at(y, 7)).toEqual([0, 0, 255]);
    }
    const green = Array.from({ length: 64 }, (_, i) => small[i * 3 + 1]);
    expect(Math.max(...green)).toBeLessThan(20);
  });
});

describe('prepressImages', () => {
  it('writes one row per image at each size, in id order, with class and split', async () => {
    const data = track(makeDataset({ classes: [1, 26], perClass: 4 }));
    const out = track(tempDir());
    const result = await preprocessImages(options(data, out));
    expect(result.perSplit).toEqual({ train: 4, test: 4 });
    for (const size of [8, 16]) {
      const rows: [string, number, string, number][] = [];
      const batchSizes: number[] = [];
      for await (const batch of readBatches(imagesFile(out, size))) {
        batchSizes.push(batch.numRows);
        expect(batch.schema.metadata.get('t2i.height')).toBe(String(size));
        for (let i = 0; i < batch.numRows; i++) {
          rows.push([batch.getChild('image_id')!.get(i), batch.getChild('class_id')!.get(i), batch.getChild('split')!.get(i), batch.getChild('pixels')!.get(i).length]);
        }
      }
      expect(batchSizes).toEqual([3, 3, 2]);
      expect(rows.map((r) => r[0])).toEqual([...rows.map((r) => r[0])].sort());
      expect(rows.filter((r) => r[2] === 'test').every((r) => r[1] === 1)).toBe(true);
      expect(rows.every((r) => r[3] === size * size * 3)).toBe(true);
    }
    expect(JSON.parse(readFileSync(path.join(out, 'skipped.json'), 'utf8')).count).toBe(0);

    // Another set of sizes into the same folder: the earlier run's other size goes with it.
    await preprocessImages({ ...options(data, out), sizes: [16, 12] });
    expect(readdirSync(out).filter((f) => f.endsWith('.arrow')).sort()).toEqual(['images-12.arrow', 'images-16.arrow']);
  });

  it('fails on corrupt JPEGs, names each one, and writes no artifact', async () => {
    const data = track(makeDataset({ classes: [1, 26], perClass: 3 }));
    const truncated = path.join(data, 'jpg/image_06734.jpg');
    writeFileSync(truncated, readFileSync(truncated).subarray(0, 3000));
    writeFileSync(path.join(data, 'jpg/image_06487.jpg'), 'not a jpeg at all');
    const out = track(tempDir());
    const error = await preprocessImages(options(data, out)).catch((e) => e);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error.problems.map((p: { file: string }) => p.file)).toEqual(['jpg/image_06487.jpg', 'jpg/image_06734.jpg']);
    expect(error.message).toMatch(/--skip-bad/);
    expect(readdirSync(out)).toEqual([]);

    const skipped = await preprocessImages({ ...options(data, out), skipBad: true });
    expect(skipped.images).toBe(4);
    const report = JSON.parse(readFileSync(path.join(out, 'skipped.json'), 'utf8'));
    expect(report.problems.map((p: { imageId: string }) => p.imageId)).toEqual(['image_06487', 'image_06734']);
    expect(existsSync(imagesFile(out, 16))).toBe(true);
  });
});
