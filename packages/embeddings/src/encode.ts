/** Token rows to sentence vectors with the text model: what training, measuring and a new sentence (command line or page) share. */
import { tf } from '@t2i/backends';
import type { SentenceModel } from './models.ts';

const CHUNK = 256;

/** 0-padded [batch, length] token matrix, length = the longest row. */
export function padTokens(rows: Int32Array[]): { data: Int32Array; length: number } {
  const length = Math.max(1, ...rows.map((r) => r.length));
  const data = new Int32Array(rows.length * length);
  rows.forEach((r, i) => data.set(r, i * length));
  return { data, length };
}

export function tokenTensor(rows: Int32Array[]): tf.Tensor2D {
  const { data, length } = padTokens(rows);
  return tf.tensor2d(data, [rows.length, length], 'int32');
}

/** Sentence vectors of the given caption rows, [n, dim], in chunks (no gradients, bounded memory). */
export async function encodeCaptions(text: SentenceModel, tokens: Int32Array[]): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for (let i = 0; i < tokens.length; i += CHUNK) {
    const v = tf.tidy(() => text.encode(tokenTensor(tokens.slice(i, i + CHUNK))));
    parts.push((await v.data()) as Float32Array);
    v.dispose();
  }
  return concat(parts);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
  return out;
}
