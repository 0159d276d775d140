import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { removeDir, tempDir } from '../../test/helpers/dataset.ts';
import { encodeCaptionVectors, readTravelPack, writeTravelPack } from '../gpu/travel.ts';

const dir = tempDir();
afterAll(() => removeDir(dir));

describe('the travel pack for the GPU machine', () => {
  const size = 76;
  const ids = ['image_00001', 'image_00002', 'image_00003'];
  // Smooth colour ramps, one per image: what a lossy codec should keep closely.
  const pixels = Uint8Array.from({ length: ids.length * size * size * 3 }, (_, i) => {
    const [image, rest] = [Math.floor(i / (size * size * 3)), i % (size * size * 3)];
    const [y, x, c] = [Math.floor(rest / (size * 3)), Math.floor(rest / 3) % size, rest % 3];
    return (40 * image + [2 * x, 2 * y, x + y][c]) % 256;
  });
  const images = { size, ids, classIds: Int16Array.of(3, 7, 3), splits: ['train', 'train', 'test'] as ('train' | 'test')[], pixels };
  const captions = new Map([
    ['image_00001', ['a red flower', 'red petals']],
    ['image_00002', ['a yellow flower with a long stem']],
  ]);

  it('gives back the images (AVIF: close, not exact), their classes, splits and captions', async () => {
    const file = path.join(dir, 'pack.arrow');
    await writeTravelPack(file, images, captions);
    const back = await readTravelPack(file);
    expect(back.images.ids).toEqual(ids);
    expect(Array.from(back.images.classIds)).toEqual([3, 7, 3]);
    expect(back.images.splits).toEqual(['train', 'train', 'test']);
    expect(back.images.size).toBe(size);
    const error = back.images.pixels.reduce((sum, v, i) => sum + Math.abs(v - pixels[i]), 0) / pixels.length;
    expect(error).toBeLessThan(4);
    expect(back.captions.get('image_00001')).toEqual(['a red flower', 'red petals']);
    expect(back.captions.get('image_00003')).toEqual([]);
    expect((await readTravelPack(file, 2)).images.ids).toEqual(ids.slice(0, 2));
  });

  it("makes each image's caption vectors with the encoder given, and none for an image without captions", async () => {
    const dim = 2;
    const encode = async (sentences: string[]) => ({ vectors: Float32Array.from(sentences.flatMap((s) => [s.length, s.split(' ').length])) });
    const vectors = await encodeCaptionVectors(new Map([...captions, ['image_00003', []]]), ['blue'], encode, dim);
    expect(Array.from(vectors.byImage.get('image_00001')!)).toEqual([12, 3, 10, 2]);
    expect(Array.from(vectors.byImage.get('image_00002')!)).toEqual([32, 7]);
    expect(vectors.byImage.has('image_00003')).toBe(false);
    expect(Array.from(vectors.reference)).toEqual([4, 1]);
    expect(vectors.referenceText).toEqual(['blue']);
  });
});
