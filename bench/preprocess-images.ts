/**
 * preprocess-images throughput against sharp's own decode+resize rate, on the same images and
 * machine, at several concurrencies. Prints a table; nothing here is a test.
 *   pnpm tsx bench/preprocess-images.ts [--data DIR] [--limit N]
 */
import { intFlag, listImages, mapOrdered, openDataset, resolveDatasetDir } from '@t2i/core';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { preprocessImages } from 'preprocess-images';
import sharp from 'sharp';
import { z } from 'zod';
import { benchFlags } from './flags.ts';

const values = benchFlags(
  'preprocess-images.ts',
  "preprocess-images' throughput against sharp's own decode and resize, at several concurrencies",
  (c) =>
    c
      .option('--data <dir>', 'dataset folder (default: $T2I_DATA, else the embedded sample)')
      .option('--limit <n>', 'images', '800')
      .option('--concurrency <list>', 'comma list of concurrencies', '1,2,4,8'),
  z.object({ data: z.string().optional(), limit: intFlag(), concurrency: z.string().transform((s) => s.split(',').map(Number)).pipe(z.array(z.number().int().min(1))) }),
);
const dataDir = resolveDatasetDir(values.data);
const { limit, concurrency: levels } = values;
const { images } = await listImages(await openDataset(dataDir));
const files = images.slice(0, limit).map((i) => i.file);
const sizes = [76, 304];

/** sharp alone: decode, cover-crop and resize to both sides, raw pixels out; no Arrow, no checks. */
async function sharpOnly(concurrency: number): Promise<number> {
  const t = performance.now();
  for await (const _ of mapOrdered(files, concurrency, (f) => Promise.all(sizes.map((s) => sharp(f).resize(s, s, { fit: 'cover' }).raw().toBuffer())))) void _;
  return files.length / ((performance.now() - t) / 1000);
}

async function stage(concurrency: number): Promise<number> {
  const out = mkdtempSync(path.join(os.tmpdir(), 't2i-bench-'));
  try {
    const r = await preprocessImages({ dataDir, outDir: out, sizes, concurrency, batchRows: 64, skipBad: true, limit });
    return r.images / r.seconds;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

console.log(`${files.length} images from ${dataDir}; ${os.cpus().length} cores; libvips threads ${sharp.concurrency()}; UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 4}`);
await sharpOnly(2); // warm the page cache and libvips
console.log('concurrency | sharp decode+resize img/s | preprocess-images img/s | ratio');
for (const c of levels) {
  const base = await sharpOnly(c);
  const ours = await stage(c);
  console.log(`${String(c).padStart(11)} | ${base.toFixed(1).padStart(25)} | ${ours.toFixed(1).padStart(23)} | ${(ours / base).toFixed(2)}`);
}
