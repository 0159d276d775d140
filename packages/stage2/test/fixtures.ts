import { ArrowFileSink, dictionaryColumn, fixedListColumn, int16Column, makeBatch, Rng, SPLITS, utf8Column, type Split } from '@t2i/core';
import type { CaptionVectors } from 'embeddings';
import { imagesSchema } from 'preprocess-images';
import type { Stage2Config } from '../src/config.ts';

/** Class c's flat colour, so that a crop of any image tells its class. */
export const classValue = (classId: number) => (classId * 60) % 256;

/**
 * An images-<size>.arrow as preprocess-images writes it: `rows` flat-coloured images, classes
 * 1..classes in turn (so every record batch mixes them), in record batches of `batchRows`;
 * classes in `testClasses` are in the test split.
 */
export async function writeImagesFile(file: string, options: { rows: number; classes: number; size: number; batchRows: number; testClasses?: number[] }): Promise<{ ids: string[]; classIds: number[]; splits: Split[] }> {
  const { rows, classes, size, batchRows, testClasses = [] } = options;
  const stride = size * size * 3;
  const ids = Array.from({ length: rows }, (_, i) => `image_${String(i + 1).padStart(5, '0')}`);
  const classIds = ids.map((_, i) => 1 + (i % classes));
  const splits = classIds.map((c): Split => (testClasses.includes(c) ? 'test' : 'train'));
  const sink = await ArrowFileSink.open(file);
  const schema = imagesSchema(size, 'synthetic');
  for (let start = 0; start < rows; start += batchRows) {
    const end = Math.min(rows, start + batchRows);
    const pixels = new Uint8Array((end - start) * stride);
    for (let r = start; r < end; r++) pixels.fill(classValue(classIds[r]), (r - start) * stride, (r - start + 1) * stride);
    sink.write(makeBatch(schema, [utf8Column(ids.slice(start, end)), int16Column(Int16Array.from(classIds.slice(start, end))), dictionaryColumn(splits.slice(start, end), SPLITS), fixedListColumn(pixels, stride)]));
  }
  await sink.commit();
  return { ids, classIds, splits };
}

/** 10 random caption vectors of `dim` for each image, and 2 reference captions. */
export function syntheticVectors(ids: string[], dim = 6): CaptionVectors {
  const rng = new Rng(5);
  return {
    dim,
    byImage: new Map(ids.map((id) => [id, Float32Array.from({ length: 10 * dim }, () => rng.normal())])),
    reference: Float32Array.from({ length: 2 * dim }, () => rng.normal()),
    referenceText: ['a', 'b'],
  };
}

export function tinyStage2(overrides: Partial<Stage2Config> = {}): Stage2Config {
  return {
    name: 'test',
    ngf: 4,
    ndf: 2,
    conditionDim: 3,
    residualBlocks: 1,
    batchSize: 2,
    epochs: 1,
    learningRate: 0.001,
    lrDecayEpochs: 1,
    beta1: 0.5,
    klWeight: 2,
    captionsPerExample: 4,
    shuffleRows: 4,
    checkpointEvery: 1,
    keepCheckpoints: 2,
    seed: 1,
    ...overrides,
  };
}
