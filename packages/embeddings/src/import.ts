import { readTable, UsageError } from '@t2i/core';
import { readFileSync } from 'node:fs';
import type { EmbeddingData } from './data.ts';

/** A float32 .npy array (little-endian, C order), as numpy.save writes it. */
export function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(file);
  if (buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new UsageError(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (descr !== '<f4' || fortran !== 'False') throw new UsageError(`${file}: expected float32 little-endian C-order data ('<f4'), found descr ${descr}, fortran_order ${fortran}; save it with numpy.ascontiguousarray(x, dtype='<f4')`);
  const offset = start + headerLen;
  const expected = 4 * shape.reduce((n, d) => n * d, 1);
  if (buf.length - offset !== expected) throw new UsageError(`${file}: its header's shape (${shape.join(', ')}) needs ${expected} bytes of data, the file holds ${buf.length - offset}: it is truncated or was not written by numpy.save; write it again`);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + buf.length));
  return { shape, data };
}

/**
 * Precomputed sentence vectors (StackGAN's char-CNN-RNN, skip-thought, ...) aligned with the
 * captions t2i read, L2-normalised like t2i's own. Arrow: columns image_id, caption_index,
 * vector (fixed-size list of float32), one row per caption. .npy: float32 [images, 10, D], images
 * in image-id order (the order of captions.arrow).
 */
export async function loadImportedVectors(file: string, data: EmbeddingData): Promise<{ vectors: Float32Array; dim: number }> {
  const rows = data.captions.image.length;
  const key = (image: string, index: number) => `${image}#${index}`;
  const want = new Map(Array.from({ length: rows }, (_, r) => [key(data.images.ids[data.captions.image[r]], data.captions.index[r]), r]));
  let dim: number;
  let vectors: Float32Array;
  if (file.endsWith('.npy')) {
    const { shape, data: values } = readNpy(file);
    const images = [...new Set(Array.from(data.captions.image))].sort((a, b) => a - b);
    if (shape.length !== 3 || shape[0] !== images.length) {
      throw new UsageError(`${file}: shape (${shape.join(', ')}) should be (images, captions per image, D) with ${images.length} images, in the image-id order of captions.arrow`);
    }
    dim = shape[2];
    vectors = new Float32Array(rows * dim);
    images.forEach((img, i) => {
      for (let c = 0; c < shape[1]; c++) {
        const r = want.get(key(data.images.ids[img], c));
        if (r !== undefined) vectors.set(values.subarray((i * shape[1] + c) * dim, (i * shape[1] + c + 1) * dim), r * dim);
      }
    });
  } else {
    const table = await readTable(file);
    const ids = table.getChild('image_id');
    const index = table.getChild('caption_index');
    const vec = table.getChild('vector');
    if (!ids || !index || !vec) throw new UsageError(`${file}: needs columns image_id, caption_index and vector (fixed-size list of float32)`);
    dim = (vec.type as { listSize: number }).listSize;
    vectors = new Float32Array(rows * dim);
    const found = new Set<number>();
    for (let i = 0; i < table.numRows; i++) {
      const r = want.get(key(ids.get(i), Number(index.get(i))));
      if (r === undefined) continue;
      vectors.set((vec.get(i) as { toArray(): Float32Array }).toArray(), r * dim);
      found.add(r);
    }
    if (found.size < rows) throw new UsageError(`${file}: has vectors for ${found.size} of the ${rows} captions; the first missing is ${[...want.keys()].find((k) => !found.has(want.get(k)!))}`);
  }
  for (let r = 0; r < rows; r++) {
    const v = vectors.subarray(r * dim, (r + 1) * dim);
    const norm = Math.hypot(...v);
    if (!Number.isFinite(norm) || norm === 0) throw new UsageError(`${file}: the vector of caption ${r} (${data.images.ids[data.captions.image[r]]}) is zero or not finite`);
    for (let d = 0; d < dim; d++) v[d] /= norm;
  }
  return { vectors, dim };
}
