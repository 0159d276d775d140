import {
  arrow as A,
  ArrowFileSink,
  commitTogether,
  datasetRelative,
  dictionaryColumn,
  fixedListColumn,
  fixedListType,
  formatBytes,
  handleProblems,
  int16Column,
  log,
  makeBatch,
  mapOrdered,
  progressBar,
  removeEarlierOutputs,
  listImages,
  openDataset,
  SPLITS,
  utf8Column,
  writeJsonAtomic,
  writeSkippedReport,
  type ImageEntry,
  type Problem,
} from '@t2i/core';
import { statSync } from 'node:fs';
import path from 'node:path';
import { centerCropResize } from './resize.ts';

export interface PreprocessOptions {
  dataDir: string;
  outDir: string;
  /** Output sides; the defaults are Stage I's 76 and Stage II's 304. */
  sizes: number[];
  /** Images decoded at once (sharp runs each on libuv's thread pool). */
  concurrency: number;
  /** Rows per Arrow record batch: the unit readers stream. */
  batchRows: number;
  skipBad: boolean;
  /** For tests and quick looks: only the first N images. */
  limit?: number;
}

export function imagesFile(outDir: string, size: number): string {
  return path.join(outDir, `images-${size}.arrow`);
}

/** The row layout of images-<size>.arrow. Pixels are HWC uint8 RGB, row-major. */
export function imagesSchema(size: number, dataDir: string): A.Schema {
  return new A.Schema(
    [
      new A.Field('image_id', new A.Utf8(), false),
      new A.Field('class_id', new A.Int16(), false),
      new A.Field('split', new A.Dictionary(new A.Utf8(), new A.Int8()), false),
      new A.Field('pixels', fixedListType(new A.Uint8(), size * size * 3), false),
    ],
    new Map([
      ['t2i.stage', 'preprocess-images'],
      ['t2i.height', String(size)],
      ['t2i.width', String(size)],
      ['t2i.channels', '3'],
      ['t2i.layout', 'HWC uint8 RGB; centre-cropped square of the shorter side, lanczos3 resize'],
      ['t2i.dataset', dataDir],
    ]),
  );
}

interface Decoded {
  image: ImageEntry;
  pixels?: Uint8Array[];
  error?: string;
}

export interface PreprocessResult {
  images: number;
  perSplit: Record<string, number>;
  skipped: Problem[];
  files: Record<string, number>;
  seconds: number;
}

export async function preprocessImages(options: PreprocessOptions): Promise<PreprocessResult> {
  const started = performance.now();
  const dataset = await openDataset(options.dataDir);
  const listed = await listImages(dataset);
  const todo = options.limit ? listed.images.slice(0, options.limit) : listed.images;
  const problems: Problem[] = [...listed.problems];
  const sinks = await Promise.all(options.sizes.map((size) => ArrowFileSink.open(imagesFile(options.outDir, size))));
  const schemas = options.sizes.map((size) => imagesSchema(size, dataset.root));
  const perSplit: Record<string, number> = { train: 0, test: 0 };
  let pending: Decoded[] = [];

  const flush = () => {
    if (pending.length === 0) return;
    options.sizes.forEach((size, s) => {
      const pixels = new Uint8Array(pending.length * size * size * 3);
      pending.forEach((d, i) => pixels.set(d.pixels![s], i * size * size * 3));
      sinks[s].write(
        makeBatch(schemas[s], [
          utf8Column(pending.map((d) => d.image.id)),
          int16Column(Int16Array.from(pending, (d) => d.image.classId)),
          dictionaryColumn(pending.map((d) => d.image.split), SPLITS),
          fixedListColumn(pixels, size * size * 3),
        ]),
      );
    });
    pending = [];
  };

  const bar = progressBar('preprocess-images', todo.length, 'images');
  try {
    const decode = async (image: ImageEntry): Promise<Decoded> => {
      try {
        return { image, pixels: await centerCropResize(image.file, options.sizes) };
      } catch (err) {
        return { image, error: (err as Error).message };
      }
    };
    for await (const decoded of mapOrdered(todo, options.concurrency, decode)) {
      bar.tick();
      if (decoded.error) {
        problems.push({
          file: datasetRelative(dataset, decoded.image.file),
          problem: `cannot be decoded: ${decoded.error}`,
          fix: 'replace it with an intact copy of the JPEG, or remove it together with its caption file',
          imageId: decoded.image.id,
        });
        continue;
      }
      pending.push(decoded);
      perSplit[decoded.image.split]++;
      if (pending.length === options.batchRows) flush();
    }
    flush();
    bar.stop();
    await handleProblems('preprocess-images', options.outDir, problems, options.skipBad);
  } catch (err) {
    bar.stop();
    await Promise.all(sinks.map((s) => s.abort()));
    throw err;
  }

  await commitTogether(sinks);
  // An earlier run's other sizes would hold other images than this run's, beside its manifest.
  await removeEarlierOutputs(options.outDir, options.sizes.map((size) => imagesFile(options.outDir, size)), /^images-\d+\.arrow$/);
  await writeSkippedReport(options.outDir, problems);
  const files = Object.fromEntries(options.sizes.map((size) => [path.basename(imagesFile(options.outDir, size)), statSync(imagesFile(options.outDir, size)).size]));
  const result: PreprocessResult = {
    images: perSplit.train + perSplit.test,
    perSplit,
    skipped: problems,
    files,
    seconds: (performance.now() - started) / 1000,
  };
  await writeJsonAtomic(path.join(options.outDir, 'manifest.json'), {
    stage: 'preprocess-images',
    dataset: dataset.root,
    sizes: options.sizes,
    images: result.images,
    perSplit,
    skipped: problems.length,
    bytes: files,
    seconds: Number(result.seconds.toFixed(2)),
  });
  log(
    `preprocess-images: ${result.images} images (train ${perSplit.train}, test ${perSplit.test}) in ${result.seconds.toFixed(1)} s, ` +
      `${(result.images / result.seconds).toFixed(1)} images/s; ` +
      Object.entries(files).map(([f, b]) => `${f} ${formatBytes(b)}`).join(', '),
  );
  return result;
}
