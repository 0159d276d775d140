import { removeEarlierOutputs } from '@t2i/core';
import { upscale, writeImageGrid, writePng } from '@t2i/gan';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { upscaleImages } from 'preprocess-images';
import { SIZE, type Pictures, type Stage } from './pipeline.ts';

/** Each image as a PNG, `name(i)` for image i (from 1). */
async function writeEach(outDir: string, pixels: Uint8Array, n: number, size: number, name: (i: number) => string): Promise<string[]> {
  const stride = size * size * 3;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(outDir, name(i + 1));
    await writePng(file, pixels.subarray(i * stride, (i + 1) * stride), size, size);
    files.push(file);
  }
  return files;
}

/** Without a Stage II model: Stage I's pictures, with 256 px ones upscaled from them with lanczos3 (the baseline evaluate scores Stage II against). */
export async function upscaledStage1(p: Pictures): Promise<Pictures> {
  return { ...p, high: await upscaleImages(p.low, p.n, SIZE[1], SIZE[2]) };
}

/** `t2i generate`: image-<i>-64.png (and image-<i>-256.png) per sample, and all-64.png (all-256.png) strips of them, in place of an earlier run's. */
export async function writePictures(outDir: string, p: Pictures): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const [size, pixels] of [[SIZE[1], p.low], [SIZE[2], p.high]] as const) {
    if (!pixels) continue;
    files.push(...(await writeEach(outDir, pixels, p.n, size, (i) => `image-${i}-${size}.png`)));
    const strip = path.join(outDir, `all-${size}.png`);
    await writeImageGrid(strip, pixels, p.n, size, { cols: p.n, cell: Math.max(size, 128) });
    files.push(strip);
  }
  await removeEarlierOutputs(outDir, files, /^(image-\d+-(64|256)|all-(64|256))\.png$/);
  return files;
}

/**
 * `t2i sample`: the last stage's images, image-<i>.png, and all.png: at Stage I a strip of them,
 * at Stage II Stage I's images (upscaled) above Stage II's; in place of an earlier run's.
 */
export async function writeSample(outDir: string, p: Pictures, stage: Stage): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const size = SIZE[stage];
  const last = stage === 2 ? p.high! : p.low;
  const files = await writeEach(outDir, last, p.n, size, (i) => `image-${i}.png`);
  const all = path.join(outDir, 'all.png');
  if (stage === 1) await writeImageGrid(all, p.low, p.n, size, { cols: p.n, cell: 128 });
  else {
    const both = new Uint8Array(2 * last.length);
    both.set(upscale(p.low, p.n, SIZE[1], size));
    both.set(last, last.length);
    await writeImageGrid(all, both, 2 * p.n, size, { cols: p.n });
  }
  files.push(all);
  await removeEarlierOutputs(outDir, files, /^(image-\d+|all)\.png$/);
  return files;
}
