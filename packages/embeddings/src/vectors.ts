import { readTable, requireArtifact, stepDir } from '@t2i/core';
import { embeddingsFile, referenceEmbeddingsFile } from './stage.ts';

/** The sentence vectors of every caption, by image: what the GAN stages condition on. */
export interface CaptionVectors {
  dim: number;
  /** SentenceSpace's encoder: which encoder training made them. */
  encoderId?: string;
  /** image id -> its captions' vectors, [captions, dim] flattened. */
  byImage: Map<string, Float32Array>;
  /** The 8 reference captions, [8, dim] flattened, and their text. */
  reference: Float32Array;
  referenceText: string[];
}

export async function loadCaptionVectors(dir = stepDir('embeddings')): Promise<CaptionVectors> {
  const table = await readTable(requireArtifact(embeddingsFile(dir), 'pnpm turbo run embeddings'));
  const dim = Number(table.schema.metadata.get('t2i.dim'));
  const ids = table.getChild('image_id')!;
  const vec = table.getChild('vector')!;
  const rows = new Map<string, Float32Array[]>();
  for (let i = 0; i < table.numRows; i++) {
    const id = ids.get(i) as string;
    if (!rows.has(id)) rows.set(id, []);
    rows.get(id)!.push((vec.get(i) as { toArray(): Float32Array }).toArray());
  }
  const byImage = new Map([...rows].map(([id, list]) => {
    const flat = new Float32Array(list.length * dim);
    list.forEach((v, k) => flat.set(v, k * dim));
    return [id, flat];
  }));
  const ref = await readTable(requireArtifact(referenceEmbeddingsFile(dir), 'pnpm turbo run embeddings'));
  const reference = new Float32Array(ref.numRows * dim);
  for (let i = 0; i < ref.numRows; i++) reference.set((ref.getChild('vector')!.get(i) as { toArray(): Float32Array }).toArray(), i * dim);
  const encoderId = table.schema.metadata.get('t2i.encoder_id');
  return { dim, encoderId, byImage, reference, referenceText: ref.getChild('image_id')!.toArray() as string[] };
}
