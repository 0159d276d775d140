import { log, readJson, readTable, requireArtifact, stepDir, type Split } from '@t2i/core';
import { captionsFile, referenceFile, vocabFile, Vocabulary, BOS, EOS } from 'captions';
import { loadImageSet, SOURCE_SIZE } from 'preprocess-images';

export const IMAGE_SIZE = SOURCE_SIZE.stage1;

/** Every caption and every 76x76 image, in memory (the 76 set of the full dataset is 142 MB). */
export interface EmbeddingData {
  vocab: Vocabulary;
  images: {
    ids: string[];
    classIds: Int16Array;
    splits: Split[];
    /** [n, 76, 76, 3] uint8 */
    pixels: Uint8Array;
  };
  captions: {
    /** Row in `images` of each caption's image. */
    image: Int32Array;
    index: Int8Array;
    tokens: Int32Array[];
    /** --encoder import: the imported sentence vector of each caption, [captions, dim], unit length. */
    imported?: { vectors: Float32Array; dim: number };
  };
  reference: { text: string[]; tokens: Int32Array[] };
}

export async function loadEmbeddingData(maxTokens: number): Promise<EmbeddingData> {
  const capDir = stepDir('captions');
  const vocab = new Vocabulary(readJson(requireArtifact(vocabFile(capDir), 'pnpm turbo run captions')));
  const { ids, classIds, splits, pixels } = await loadImageSet(IMAGE_SIZE);
  const row = new Map(ids.map((id, i) => [id, i]));
  const table = await readTable(requireArtifact(captionsFile(capDir), 'pnpm turbo run captions'));
  const capImage: number[] = [];
  const capIndex: number[] = [];
  const tokens: Int32Array[] = [];
  const idCol = table.getChild('image_id')!;
  const indexCol = table.getChild('caption_index')!;
  const tokenCol = table.getChild('token_ids')!;
  const withoutPixels = new Set<string>();
  for (let i = 0; i < table.numRows; i++) {
    // Images that preprocess-images skipped (--skip-bad) have captions but no pixels.
    const r = row.get(idCol.get(i));
    if (r === undefined) {
      withoutPixels.add(idCol.get(i));
      continue;
    }
    capImage.push(r);
    capIndex.push(indexCol.get(i));
    tokens.push((tokenCol.get(i) as { toArray(): Int32Array }).toArray().slice(0, maxTokens));
  }
  if (withoutPixels.size > 0) log(`embeddings: leaving out the captions of ${withoutPixels.size} images: preprocess-images --skip-bad left out their images`);
  const ref = await readTable(requireArtifact(referenceFile(capDir), 'pnpm turbo run captions'));
  return {
    vocab,
    ...withCaptionsOnly({ ids, classIds, splits, pixels }, capImage),
    captions: { image: Int32Array.from(capImage), index: Int8Array.from(capIndex), tokens },
    reference: {
      text: ref.getChild('text')!.toArray() as string[],
      tokens: Array.from({ length: ref.numRows }, (_, i) => (ref.getChild('token_ids')!.get(i) as { toArray(): Int32Array }).toArray().slice(0, maxTokens)),
    },
  };
}

/**
 * The images that have captions, with `capImage` (each caption's image row) renumbered in place:
 * images whose caption file captions skipped (--skip-bad) have pixels but nothing to pair them with.
 */
export function withCaptionsOnly(images: EmbeddingData['images'], capImage: number[]): { images: EmbeddingData['images'] } {
  const captioned = [...new Set(capImage)].sort((a, b) => a - b);
  if (captioned.length === images.ids.length) return { images };
  log(`embeddings: leaving out ${images.ids.length - captioned.length} of ${images.ids.length} images: captions --skip-bad left out their caption files`);
  const newRow = new Map(captioned.map((r, i) => [r, i]));
  capImage.forEach((r, i) => (capImage[i] = newRow.get(r)!));
  const size = images.pixels.length / images.ids.length;
  const pixels = new Uint8Array(captioned.length * size);
  captioned.forEach((r, i) => pixels.set(images.pixels.subarray(r * size, (r + 1) * size), i * size));
  return {
    images: {
      ids: captioned.map((r) => images.ids[r]),
      classIds: Int16Array.from(captioned, (r) => images.classIds[r]),
      splits: captioned.map((r) => images.splits[r]),
      pixels,
    },
  };
}

/**
 * Teacher forcing for the autoencoder: decoder input <bos> w1 .. wn, target w1 .. wn <eos>, and a
 * mask over the real positions, all [batch, length + 1].
 */
export function decoderTensors(rows: Int32Array[], vocab: Vocabulary) {
  const length = Math.max(...rows.map((r) => r.length)) + 1;
  const input = new Int32Array(rows.length * length);
  const target = new Int32Array(rows.length * length);
  const mask = new Float32Array(rows.length * length);
  const bos = vocab.id(BOS);
  const eos = vocab.id(EOS);
  rows.forEach((r, i) => {
    const o = i * length;
    input[o] = bos;
    input.set(r, o + 1);
    target.set(r, o);
    target[o + r.length] = eos;
    mask.fill(1, o, o + r.length + 1);
  });
  return { input, target, mask, length };
}
