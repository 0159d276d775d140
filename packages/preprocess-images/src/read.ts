import { arrow as A, readBatches, requireArtifact, stepDir, type Split } from '@t2i/core';
import { imagesFile } from './preprocess.ts';

/** Images of one preprocess-images artifact, held in memory: fine for the 76 set (142 MB at full scale). */
export interface ImageSet {
  size: number;
  ids: string[];
  classIds: Int16Array;
  splits: Split[];
  /** [n, size, size, 3] uint8 */
  pixels: Uint8Array;
}

/** Row i of a record batch's pixels column as bytes of its own: a view would keep the whole batch's buffer alive. */
export const rowPixels = (pixels: A.Vector, i: number, stride: number): Uint8Array => (pixels.get(i) as { toArray(): Uint8Array }).toArray().slice(0, stride);

/**
 * Reads images-<size>.arrow batch by batch, keeping the rows `keep` accepts. The 304 set of the
 * full data (2.1 GiB) is too big for this: stage2 streams it a few record batches at a time.
 */
export async function loadImageSet(size: number, keep: (split: Split) => boolean = () => true, dir = stepDir('preprocess-images')): Promise<ImageSet> {
  const file = requireArtifact(imagesFile(dir, size), 'pnpm turbo run preprocess-images');
  const ids: string[] = [];
  const classIds: number[] = [];
  const splits: Split[] = [];
  const chunks: Uint8Array[] = [];
  const stride = size * size * 3;
  for await (const batch of readBatches(file)) {
    const idCol = batch.getChild('image_id')!;
    const classCol = batch.getChild('class_id')!;
    const splitCol = batch.getChild('split')!;
    const pixels = batch.getChild('pixels')!;
    for (let i = 0; i < batch.numRows; i++) {
      const split = splitCol.get(i) as Split;
      if (!keep(split)) continue;
      ids.push(idCol.get(i));
      classIds.push(classCol.get(i));
      splits.push(split);
      chunks.push(rowPixels(pixels, i, stride));
    }
  }
  const all = new Uint8Array(chunks.length * stride);
  chunks.forEach((c, i) => all.set(c, i * stride));
  return { size, ids, classIds: Int16Array.from(classIds), splits, pixels: all };
}
