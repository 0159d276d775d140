/**
 * Stage I's training data in a form small enough to travel to the GPU machine (64 MiB for the
 * working tree, the node kit and the data together): the training images at 76x76 as AVIF
 * (q70, 4:4:4: 14.8 MiB for 7,034 images, mean absolute error 4 of 255, where the raw pixels are
 * 122 MB) and each image's captions as text, beside a copy of the trained sentence encoder, which
 * makes the caption vectors there exactly as the embeddings stage made them here (the vectors
 * themselves would be 72 MB).
 */
import { arrow as A, ArrowFileSink, dictionaryColumn, int16Column, makeBatch, readBatches, type Split, utf8Column } from '@t2i/core';
import type { CaptionVectors } from 'embeddings';
import type { ImageSet } from 'preprocess-images';
import sharp from 'sharp';

const schema = new A.Schema([
  new A.Field('image_id', new A.Utf8(), false),
  new A.Field('class_id', new A.Int16(), false),
  new A.Field('split', new A.Dictionary(new A.Utf8(), new A.Int8()), false),
  new A.Field('avif', new A.Binary(), false),
  new A.Field('captions', new A.List(new A.Field('item', new A.Utf8(), false)), false),
]);
const SPLITS: Split[] = ['train', 'test'];
const BATCH = 512;

/** Writes `images` with each image's captions (by image id) to one Arrow file. */
export async function writeTravelPack(file: string, images: ImageSet, captions: Map<string, string[]>): Promise<void> {
  const { size } = images;
  const stride = size * size * 3;
  const sink = await ArrowFileSink.open(file);
  try {
    for (let first = 0; first < images.ids.length; first += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, images.ids.length - first) }, (_, i) => first + i);
      const avif = await Promise.all(
        rows.map((r) => sharp(images.pixels.subarray(r * stride, (r + 1) * stride), { raw: { width: size, height: size, channels: 3 } }).avif({ quality: 70, chromaSubsampling: '4:4:4' }).toBuffer()),
      );
      const ids = rows.map((r) => images.ids[r]);
      sink.write(
        makeBatch(schema, [
          utf8Column(ids),
          int16Column(Int16Array.from(rows, (r) => images.classIds[r])),
          dictionaryColumn(rows.map((r) => images.splits[r]), SPLITS),
          A.vectorFromArray(avif.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.length)), new A.Binary()).data[0],
          A.vectorFromArray(ids.map((id) => captions.get(id) ?? []), schema.fields[4].type).data[0],
        ]),
      );
    }
    await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

/** The pack's images (the first `limit` of them), decoded, and each image's captions. */
export async function readTravelPack(file: string, limit = Infinity): Promise<{ images: ImageSet; captions: Map<string, string[]> }> {
  const ids: string[] = [];
  const classIds: number[] = [];
  const splits: Split[] = [];
  const encoded: Uint8Array[] = [];
  const captions = new Map<string, string[]>();
  for await (const batch of readBatches(file)) {
    const [idCol, classCol, splitCol, avifCol, captionsCol] = ['image_id', 'class_id', 'split', 'avif', 'captions'].map((name) => batch.getChild(name)!);
    for (let i = 0; i < batch.numRows && ids.length < limit; i++) {
      const id = idCol.get(i) as string;
      ids.push(id);
      classIds.push(classCol.get(i) as number);
      splits.push(splitCol.get(i) as Split);
      encoded.push(avifCol.get(i) as Uint8Array);
      captions.set(id, [...(captionsCol.get(i) as Iterable<string>)]);
    }
  }
  const first = await sharp(encoded[0]).metadata();
  const size = first.width!;
  const stride = size * size * 3;
  const pixels = new Uint8Array(ids.length * stride);
  for (let start = 0; start < encoded.length; start += BATCH) {
    await Promise.all(
      encoded.slice(start, start + BATCH).map(async (bytes, k) => {
        const raw = await sharp(bytes).removeAlpha().raw().toBuffer();
        if (raw.length !== stride) throw new Error(`${file}: image ${ids[start + k]} is not ${size}x${size} RGB`);
        pixels.set(raw, (start + k) * stride);
      }),
    );
  }
  return { images: { size, ids, classIds: Int16Array.from(classIds), splits, pixels }, captions };
}

/** Caption vectors as loadCaptionVectors returns them, made by `encode` (the trained sentence encoder). */
export async function encodeCaptionVectors(
  captions: Map<string, string[]>,
  referenceText: string[],
  encode: (sentences: string[]) => Promise<{ vectors: Float32Array }>,
  dim: number,
): Promise<CaptionVectors> {
  const byImage = new Map<string, Float32Array>();
  const entries = [...captions];
  const perCall = 256;
  for (let start = 0; start < entries.length; start += perCall) {
    const chunk = entries.slice(start, start + perCall);
    const { vectors } = await encode(chunk.flatMap(([, texts]) => texts));
    let offset = 0;
    for (const [id, texts] of chunk) {
      // An image without captions has no vectors, so training leaves it out, as upstream.
      if (texts.length > 0) byImage.set(id, vectors.slice(offset * dim, (offset + texts.length) * dim));
      offset += texts.length;
    }
  }
  const reference = (await encode(referenceText)).vectors;
  return { dim, byImage, reference, referenceText };
}
