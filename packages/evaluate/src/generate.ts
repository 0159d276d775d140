import { gatherRows, removeEarlierOutputs, span } from '@t2i/core';
import { toBytes, writeImageGrid, writePng } from '@t2i/gan';
import { tf } from '@t2i/backends';
import type { SentenceEncoder } from 'embeddings';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { disposeGenerators, generate, loadEncoder, loadGenerators, noiseAt, noiseFor, requireModels, SIZE, type Generators, type Stage } from './generators.ts';

/** Images per generator call: a paper-width Stage II's 256x256 feature maps are large. */
const CHUNK = 8;

export interface TextToImage {
  generators: Generators;
  encoder: SentenceEncoder;
}

/** The latest trained models; fails with the command to run when any is missing. */
export async function loadTextToImage(stage: Stage): Promise<TextToImage> {
  requireModels(stage);
  const generators = await loadGenerators(stage);
  try {
    return { generators, encoder: await loadEncoder(generators) };
  } catch (err) {
    disposeGenerators(generators);
    throw err;
  }
}

export function disposeTextToImage(m: TextToImage): void {
  disposeGenerators(m.generators);
  m.encoder.dispose();
}

export interface Pictures {
  n: number;
  /** [n, 64, 64, 3] bytes (Stage I). */
  low: Uint8Array;
  /** [n, 256, 256, 3] bytes (Stage II), when it is loaded. */
  high?: Uint8Array;
  /** Words of the sentence outside the vocabulary (encoded as <unk>). */
  unknownWords: string[];
  /** Words past the encoder's length, not read. */
  ignoredWords: string[];
}

/** One sentence to n images per stage; the same seed gives the same images. */
export async function textToImages(m: TextToImage, text: string, n: number, seed: number): Promise<Pictures> {
  const { vectors, unknownWords, ignoredWords } = await m.encoder.encode([text]);
  const dim = m.generators.textDim;
  const noise = noiseFor(m.generators, n, seed);
  const low = new Uint8Array(n * SIZE[1] * SIZE[1] * 3);
  const high = m.generators.stage2 ? new Uint8Array(n * SIZE[2] * SIZE[2] * 3) : undefined;
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    const images = generate(m.generators, gatherRows(vectors, dim, new Array(count).fill(0)), noiseAt(m.generators, noise, span(start, count)));
    low.set(toBytes((await images.low.data()) as Float32Array), start * SIZE[1] * SIZE[1] * 3);
    if (high && images.high) high.set(toBytes((await images.high.data()) as Float32Array), start * SIZE[2] * SIZE[2] * 3);
    tf.dispose([images.low, ...(images.high ? [images.high] : [])]);
  }
  return {
    n,
    low,
    high,
    unknownWords: unknownWords[0],
    ignoredWords: ignoredWords[0],
  };
}

/** image-<i>-64.png (and image-<i>-256.png) per sample, and all-64.png (all-256.png) strips of them, in place of an earlier run's. */
export async function writePictures(outDir: string, p: Pictures): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const [size, bytes] of [[SIZE[1], p.low], [SIZE[2], p.high]] as const) {
    if (!bytes) continue;
    const stride = size * size * 3;
    for (let i = 0; i < p.n; i++) {
      const file = path.join(outDir, `image-${i + 1}-${size}.png`);
      await writePng(file, bytes.subarray(i * stride, (i + 1) * stride), size, size);
      files.push(file);
    }
    const strip = path.join(outDir, `all-${size}.png`);
    await writeImageGrid(strip, bytes, p.n, size, { cols: p.n, cell: Math.max(size, 128) });
    files.push(strip);
  }
  await removeEarlierOutputs(outDir, files, /^(image-\d+-(64|256)|all-(64|256))\.png$/);
  return files;
}
