/** Rows of [n, d] matrices held flat in Float32Arrays, as text vectors and noise travel between steps. */

/** start, start + 1, ... start + count - 1 */
export const span = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i);

/** Rows of an [n, d] matrix, in the order given; indices may repeat. */
export function gatherRows(v: Float32Array, d: number, indices: readonly number[]): Float32Array {
  const out = new Float32Array(indices.length * d);
  indices.forEach((i, j) => out.set(v.subarray(i * d, (i + 1) * d), j * d));
  return out;
}

/** Each row `times` times in a row (a, a, b, b): one grid row per caption. */
export const repeatEachRow = (v: Float32Array, d: number, times: number) => gatherRows(v, d, span(0, (v.length / d) * times).map((i) => Math.floor(i / times)));

/** The whole matrix `times` times over (a, b, a, b): the same noise columns in every grid row. */
export const tileRows = (v: Float32Array, d: number, times: number) => gatherRows(v, d, span(0, (v.length / d) * times).map((i) => i % (v.length / d)));
