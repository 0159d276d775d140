import { gatherRows, Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { seededNoise, toBytes, type Noise, type NoiseDims } from '@t2i/gan';
import { upscaleImages } from 'preprocess-images';
import { SIZE, type TextToImagePipeline } from 't2i';
import { beforeAll, describe, expect, it } from 'vitest';
import { drawSets, type Item, type TestCaptions } from '../src/measure.ts';
import { GENERATED_SETS, pairedComparisons, type GeneratedSet, type PerImage, type StageScores } from '../src/scores.ts';

const DIM = 3;
const DIMS: NoiseDims = { zDim: 4, conditionDim1: 2, conditionDim2: 2 };

/**
 * A stand-in for the trained pipeline, fast and with detailed images (an untrained tiny one paints
 * nearly flat ones): Stage I's pixels a fixed random map of caption and z, Stage II a function of
 * Stage I's image and its own noise, as the real Stage II refines Stage I's image.
 */
function fakePipeline(): Pick<TextToImagePipeline, 'draw' | 'generators'> {
  const rng = new Rng(11);
  const side = SIZE[1];
  const weights = tf.tensor2d(Float32Array.from({ length: (DIM + DIMS.zDim) * side * side * 3 }, () => rng.normal()), [DIM + DIMS.zDim, side * side * 3]);
  return {
    generators: () => ({ dims: DIMS }) as ReturnType<TextToImagePipeline['generators']>,
    draw: (text: Float32Array, noise: Noise) =>
      tf.tidy(() => {
        const n = text.length / DIM;
        const input = tf.concat([tf.tensor2d(text, [n, DIM]), tf.tensor2d(noise.z, [n, DIMS.zDim])], 1);
        const low = tf.tanh(input.matMul(weights)).reshape([n, side, side, 3]) as tf.Tensor4D;
        const shift = tf.tensor2d(noise.eps2!, [n, DIMS.conditionDim2!]).mean(1).reshape([n, 1, 1, 1]);
        const high = tf.tanh(tf.image.resizeBilinear(low, [SIZE[2], SIZE[2]]).add(shift)) as tf.Tensor4D;
        return { low, high };
      }),
  };
}

/** Byte-for-byte equality: toEqual walks a megabyte of pixels one by one, for half a minute. */
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));

const joined = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

describe('the sets evaluate scores', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('upscale the very Stage I images that Stage II refines: same captions, same noise, batch by batch', async () => {
    const pipeline = fakePipeline();
    const rng = new Rng(3);
    const captions: TestCaptions = { vectors: Float32Array.from({ length: 3 * DIM }, () => rng.normal()), classOf: [1, 1, 5], rowOf: new Map() };
    const n = 5;
    const items: Item[] = Array.from({ length: n }, (_, i) => ({ imageId: `image_${i}`, captionIndex: 0, sample: i, classId: 1, captionRow: i % 3, truthRow: 0 }));
    const noise = seededNoise(7, n, DIMS);
    const seen: Record<GeneratedSet, Uint8Array[]> = { stage1: [], stage1Upscaled: [], stage2: [] };
    const starts: number[] = [];
    await drawSets(items, captions, DIM, pipeline, noise, 2, async (sets, start) => {
      starts.push(start);
      for (const set of GENERATED_SETS) seen[set].push(toBytes((await sets[set]!.data()) as Float32Array));
    });
    expect(starts).toEqual([0, 2, 4]);
    const [stage1, upscaled, stage2] = GENERATED_SETS.map((set) => joined(seen[set]));

    // The items drawn in one call, each caption with its own noise: Stage I and Stage II as scored.
    const whole = pipeline.draw(gatherRows(captions.vectors, DIM, items.map((item) => item.captionRow)), noise);
    expect(same(stage1, toBytes((await whole.low.data()) as Float32Array))).toBe(true);
    expect(same(stage2, toBytes((await whole.high!.data()) as Float32Array))).toBe(true);
    tf.dispose([whole.low, whole.high!]);
    expect(upscaled.length).toBe(n * SIZE[2] * SIZE[2] * 3);
    expect(same(upscaled, await upscaleImages(stage1, n, SIZE[1], SIZE[2]))).toBe(true);
    // Not flat pictures, which any upscale would keep as they are.
    expect(new Set(stage1).size).toBeGreaterThan(200);
  });
});

describe('Stage II paired with its baselines', () => {
  const perImage = (captionRank: number[], classRank: number[]): PerImage => ({
    captionRank: Int32Array.from(captionRank),
    classRank: Int32Array.from(classRank),
    pTrue: new Float32Array(captionRank.length),
    cosineDistance: new Float32Array(captionRank.length),
  });

  const measured = (set: GeneratedSet, captionRank: number[], classRank: number[], fid: number, fidLeaveOneOut: number[]) => ({
    set,
    perImage: perImage(captionRank, classRank),
    // Pairing reads no other score.
    scores: { fid: { value: fid, standardError: 0, protocol: '' } } as StageScores,
    fidLeaveOneOut,
  });

  it('compares Stage II with each baseline on the same images: a rank of 0 is right, any other wrong', () => {
    const perSet = [
      measured('stage1', [0, 0, 3, 1], [0, 2, 0, 0], 20, [20, 21, 19]),
      measured('stage1Upscaled', [0, 5, 0, 1], [0, 0, 0, 0], 21, [21, 21, 21]),
      measured('stage2', [0, 0, 0, 2], [1, 0, 0, 0], 19, [19, 20, 18]),
    ];
    const paired = pairedComparisons(perSet)!;
    expect([paired.stage2VsStage1.rPrecision.onlyA, paired.stage2VsStage1.rPrecision.onlyB, paired.stage2VsStage1.rPrecision.difference]).toEqual([1, 0, 0.25]);
    expect([paired.stage2VsStage1Upscaled.rPrecision.onlyA, paired.stage2VsStage1Upscaled.rPrecision.onlyB]).toEqual([1, 0]);
    expect([paired.stage2VsStage1.classTop1.onlyA, paired.stage2VsStage1.classTop1.onlyB]).toEqual([1, 1]);
    expect([paired.stage2VsStage1Upscaled.classTop1.onlyA, paired.stage2VsStage1Upscaled.classTop1.onlyB]).toEqual([0, 1]);
    // Stage II's leave-one-out FIDs are Stage I's less 1 each time: a difference of -1 with no spread.
    expect(paired.stage2VsStage1.fid).toEqual({ difference: -1, standardError: 0 });
    // Against the upscale the differences are -2, -1, -3: sqrt(2/3 · 2) by the jackknife's formula.
    expect(paired.stage2VsStage1Upscaled.fid.difference).toBe(-2);
    expect(paired.stage2VsStage1Upscaled.fid.standardError).toBeCloseTo(Math.sqrt(4 / 3), 12);
    expect(pairedComparisons(perSet.slice(0, 2))).toBeUndefined();
  });
});
