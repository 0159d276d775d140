import sharp from 'sharp';

/**
 * The sides written by default, 76/64 of each stage's input, as in StackGAN: Stage I trains on
 * random 64 crops of 76 (and the embeddings and evaluate read that set too), Stage II on 256 of 304.
 */
export const SOURCE_SIZE = { stage1: 76, stage2: 304 } as const;

/**
 * The seed report's image preprocessing: centre-crop to a square of the shorter side, then
 * resize to each requested side (76 = 64 x 76/64 for Stage I, 304 = 256 x 76/64 for Stage II).
 * The crop comes first, as in the seed: sharp's 'cover' fit would resize first and let the cut-off
 * margins bleed into the edge pixels. Returns HWC uint8 RGB per size. A truncated or corrupt JPEG
 * throws: sharp is told to fail on libjpeg's warnings, which is where truncation shows up.
 */
export async function centerCropResize(file: string, sizes: readonly number[]): Promise<Uint8Array[]> {
  const image = sharp(file, { failOn: 'warning' });
  const { width, height } = await image.metadata();
  if (!width || !height) throw new Error('has no readable image size');
  const side = Math.min(width, height);
  const square = image
    .extract({ left: (width - side) >> 1, top: (height - side) >> 1, width: side, height: side })
    .removeAlpha()
    .toColourspace('srgb');
  return Promise.all(
    sizes.map(async (size) => {
      const { data, info } = await square
        .clone()
        .resize(size, size, { kernel: 'lanczos3' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3 || info.width !== size || info.height !== size) {
        throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
      }
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }),
  );
}

/**
 * `count` square HWC uint8 RGB images of side `size`, each resized to side `to` with lanczos3, as
 * the dataset's images are: the plain upscale a Stage II has to beat. Images resize in parallel
 * on libuv's thread pool.
 */
export async function upscaleImages(pixels: Uint8Array, count: number, size: number, to: number): Promise<Uint8Array> {
  const stride = size * size * 3;
  if (pixels.length !== count * stride) throw new RangeError(`${count} ${size}x${size} RGB images need ${count * stride} bytes, got ${pixels.length}`);
  const out = new Uint8Array(count * to * to * 3);
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const image = sharp(pixels.subarray(i * stride, (i + 1) * stride), { raw: { width: size, height: size, channels: 3 } });
      const data = await image.resize(to, to, { kernel: 'lanczos3' }).raw().toBuffer();
      out.set(data, i * to * to * 3);
    }),
  );
  return out;
}
