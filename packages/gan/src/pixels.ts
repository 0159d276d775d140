/** Images as RGB bytes in plain arrays, without Node (sharp writes them in images.ts): what the command line and the page both draw with. */

/** [-1, 1] floats (a generator's tanh output) to 0..255 bytes. */
export function toBytes(values: Float32Array): Uint8Array {
  return Uint8Array.from(values, (v) => Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5));
}

/** Square RGB images enlarged by nearest neighbour (`size` to `to`, a multiple): each pixel a block, as tf.image.resizeNearestNeighbor makes it. */
export function upscale(pixels: Uint8Array, count: number, size: number, to: number): Uint8Array {
  const k = to / size;
  if (!Number.isInteger(k)) throw new RangeError(`${size} px does not scale to ${to} px by a whole factor`);
  const out = new Uint8Array(count * to * to * 3);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < to; y++) {
      const src = (n * size + Math.floor(y / k)) * size * 3;
      const dst = (n * to + y) * to * 3;
      for (let x = 0; x < to; x++) {
        const from = src + Math.floor(x / k) * 3;
        out[dst + x * 3] = pixels[from];
        out[dst + x * 3 + 1] = pixels[from + 1];
        out[dst + x * 3 + 2] = pixels[from + 2];
      }
    }
  }
  return out;
}
