import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore } from '@t2i/gan';
import { beforeAll, describe, expect, it } from 'vitest';
import { contrastiveLoss, maskedTokenLoss } from '../src/losses.ts';
import { encoderIdentity } from '../src/stage.ts';
import { colourHistograms, ImageEncoder } from '../src/image-encoder.ts';
import { Seq2Seq } from '../src/seq2seq.ts';
import { addGru, runGru } from '../src/gru.ts';
import { averageCaptions, maxOverTime, TextEncoder } from '../src/text-encoder.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const norms = (x: tf.Tensor2D) => Array.from(x.norm('euclidean', 1).dataSync());

describe('encoders', () => {
  it('text encoder: [batch, length] tokens -> unit vectors, padding ignored', () => {
    const store = new ParamStore(new Rng(1));
    const enc = new TextEncoder(store, { vocabSize: 20, wordDim: 4, channels: 6, dim: 5 });
    const a = enc.encode(tf.tensor2d([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]], [2, 5], 'int32'));
    expect(a.shape).toEqual([2, 5]);
    norms(a).forEach((n) => expect(n).toBeCloseTo(1, 5));
    // The same caption without trailing padding gives the same vector.
    const b = enc.encode(tf.tensor2d([[5, 6, 7]], [1, 3], 'int32'));
    Array.from(b.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(a.dataSync()[i], 5));
  });

  it('text encoder cnn-gru: [batch, length] tokens -> unit vectors, padding ignored, a GRU beside the CNN', () => {
    const store = new ParamStore(new Rng(1));
    const enc = new TextEncoder(store, { vocabSize: 20, wordDim: 4, channels: 6, dim: 5, gruHidden: 3 });
    expect(store.listScope('text/gru').length).toBe(3);
    const a = enc.encode(tf.tensor2d([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]], [2, 5], 'int32'));
    expect(a.shape).toEqual([2, 5]);
    norms(a).forEach((n) => expect(n).toBeCloseTo(1, 5));
    const b = enc.encode(tf.tensor2d([[5, 6, 7]], [1, 3], 'int32'));
    Array.from(b.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(a.dataSync()[i], 5));
    // Unlike the max over time, the GRU's states depend on everything before them: the reversed caption reads differently.
    const reversed = enc.encode(tf.tensor2d([[7, 6, 5]], [1, 3], 'int32'));
    expect(Math.max(...Array.from(reversed.sub(b).abs().dataSync()))).toBeGreaterThan(1e-3);
  });

  it('GRU: one step equals the hand computation; a masked step carries the state unchanged', () => {
    const store = new ParamStore(new Rng(2));
    const gru = addGru(store.scope('g'), 'cell', 2, 1);
    const [wx, wh] = [gru.wx.arraySync() as number[][], gru.wh.arraySync() as number[][]];
    // Biases start at zero: non-zero ones, so the hand computation checks where each goes.
    const b = [0.1, -0.2, 0.3];
    gru.b.assign(tf.tensor1d(b));
    const x = [0.5, -1];
    const h0 = 0.4;
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const gate = (k: number) => x[0] * wx[0][k] + x[1] * wx[1][k] + b[k];
    const z = sig(gate(0) + h0 * wh[0][0]);
    const r = sig(gate(1) + h0 * wh[0][1]);
    const n = Math.tanh(gate(2) + r * h0 * wh[0][2]);
    const expected = (1 - z) * n + z * h0;
    const inputs = tf.tensor3d([[x, x]]);
    const states = runGru(gru, inputs, tf.tensor2d([[1, 0]]), tf.tensor2d([[h0]]));
    expect(states[0].dataSync()[0]).toBeCloseTo(expected, 6);
    expect(states[1].dataSync()[0]).toBeCloseTo(expected, 6);
  });

  it('image encoder: [batch, 64, 64, 3] -> unit vectors', () => {
    const enc = new ImageEncoder(new ParamStore(new Rng(1)), 2, 7);
    const v = enc.encode(tf.zeros([3, 64, 64, 3]).add(0.5) as tf.Tensor4D);
    expect(v.shape).toEqual([3, 7]);
    norms(v).forEach((n) => expect(n).toBeCloseTo(1, 5));
  });

  it('image encoder cnn8: a 3x3 convolution after each stride-2 one, same output', () => {
    const store = new ParamStore(new Rng(1));
    const enc = new ImageEncoder(store, 2, 7, 2);
    expect(store.listScope('image').length).toBe(2 * 8 + 2);
    const v = enc.encode(tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 3) as tf.Tensor4D);
    expect(v.shape).toEqual([2, 7]);
    norms(v).forEach((n) => expect(n).toBeCloseTo(1, 5));
  });

  it('colour histograms: a solid colour puts most of both halves in its own bin; a flower-like centre moves only the centre half', () => {
    // Bins run r, then g, then b, 4 levels each at -0.75, -0.25, 0.25, 0.75: (0.75, -0.75, -0.75) is bin 48.
    const red = tf.tensor4d([0.75, -0.75, -0.75], [1, 1, 1, 3]).tile([1, 8, 8, 1]) as tf.Tensor4D;
    const h = colourHistograms(red).arraySync()[0];
    expect(h.length).toBe(128);
    expect(h.slice(0, 64).reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    expect(h.slice(64).reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    // exp(-8 d^2) factorises over the channels, each 0, 0.5, 1 or 1.5 from the levels.
    const z = 1 + Math.exp(-2) + Math.exp(-8) + Math.exp(-18);
    expect(h[48]).toBeCloseTo(1 / z ** 3, 5);
    expect(h[64 + 48]).toBeCloseTo(1 / z ** 3, 5);
    // A yellow 2x2 centre in a green 8x8 image: a 1/16 share of the whole, more of the centre.
    const green = [-0.75, 0.25, -0.75];
    const yellow = [0.75, 0.75, -0.75];
    const pixels = Array.from({ length: 64 }, (_, i) => ([3, 4].includes(i >> 3) && [3, 4].includes(i & 7) ? yellow : green)).flat();
    const f = colourHistograms(tf.tensor4d(pixels, [1, 8, 8, 3])).arraySync()[0];
    const yellowBin = 3 * 16 + 3 * 4 + 0;
    expect(f[yellowBin] / h[48]).toBeCloseTo(4 / 64, 2);
    expect(f[64 + yellowBin]).toBeGreaterThan(2 * f[yellowBin]);
  });

  it('colour histograms at 8 levels: 512 bins a half, the same spread in units of the bins\' spacing as at 4 levels', () => {
    // (-0.875, -0.875, 0.875) is the lowest r and g level and the highest b: bin 7.
    const blue = tf.tensor4d([-0.875, -0.875, 0.875], [1, 1, 1, 3]).tile([1, 4, 4, 1]) as tf.Tensor4D;
    const h = colourHistograms(blue, 8).arraySync()[0];
    expect(h.length).toBe(1024);
    expect(h.slice(0, 512).reduce((a, b) => a + b)).toBeCloseTo(1, 5);
    // Sharpness 32 at spacing 0.25: exp(-32 (0.25 k)^2) = exp(-2 k^2), k levels away, as exp(-8 (0.5 k)^2) at 4.
    const z = Array.from({ length: 8 }, (_, k) => Math.exp(-2 * k * k)).reduce((a, b) => a + b);
    expect(h[7]).toBeCloseTo(1 / z ** 3, 5);
    expect(h[6] / h[7]).toBeCloseTo(Math.exp(-2), 5);
  });

  it('colour histograms of a batch too large to weigh at once (10 images of 4x4 at 8 levels, 4 to a slice) equal each image\'s own', () => {
    const images = tf.randomUniform([10, 4, 4, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const all = colourHistograms(images, 8, 4 * 16 * 512);
    expect(all.shape).toEqual([10, 1024]);
    for (const i of [0, 3, 4, 9]) {
      const one = colourHistograms(images.slice(i, 1) as tf.Tensor4D, 8);
      expect(tf.max(tf.abs(all.slice(i, 1).sub(one))).arraySync()).toBeLessThan(1e-6);
    }
  });

  it('image encoder with colours: its own weights beside the CNN\'s (an encoder without them keeps its parameters), unit vectors that follow the colour', () => {
    const plain = new ParamStore(new Rng(1));
    new ImageEncoder(plain, 2, 7);
    const store = new ParamStore(new Rng(1));
    const enc = new ImageEncoder(store, 2, 7, 1, 4);
    expect([...store.variables.keys()]).toEqual([...plain.variables.keys(), 'image/colours']);
    const solid = (rgb: number[]) => tf.tensor4d(rgb, [1, 1, 1, 3]).tile([2, 64, 64, 1]) as tf.Tensor4D;
    const v = enc.encode(solid([0.75, -0.75, -0.75]));
    expect(v.shape).toEqual([2, 7]);
    norms(v).forEach((n) => expect(n).toBeCloseTo(1, 5));
    const w = enc.encode(solid([-0.75, -0.75, 0.75]));
    expect(v.sub(w).abs().max().dataSync()[0]).toBeGreaterThan(0.01);
  });

  it("maxOverTime: tfjs's max over axis 1, and its gradient, where the maxima are unique", () => {
    const x = tf.tensor3d([[[1, -2], [3, 0.5], [2, 4]], [[0.5, 7], [-1, 6], [0.25, 5]]]);
    expect(Array.from(maxOverTime(x).dataSync())).toEqual([3, 4, 0.5, 7]);
    const loss = (f: (h: tf.Tensor3D) => tf.Tensor2D) => (h: tf.Tensor) => f(h as tf.Tensor3D).mul(tf.tensor2d([[1, 2], [3, 4]])).sum();
    const ours = tf.grad(loss(maxOverTime))(x);
    expect(Array.from(ours.dataSync())).toEqual(Array.from(tf.grad(loss((h) => h.max(1) as tf.Tensor2D))(x).dataSync()));
    expect(Array.from(ours.dataSync())).toEqual([0, 0, 1, 0, 0, 2, 3, 4, 0, 0, 0, 0]);
  });

  it('averageCaptions: the unit-length mean of each run of k rows', () => {
    const v = tf.tensor2d([[1, 0], [0, 1], [3, 0], [3, 0]]);
    const mean = averageCaptions(v, 2);
    expect(mean.shape).toEqual([2, 2]);
    const d = Array.from(mean.dataSync());
    [Math.SQRT1_2, Math.SQRT1_2, 1, 0].forEach((e, i) => expect(d[i]).toBeCloseTo(e, 6));
    expect(averageCaptions(v, 1)).toBe(v);
  });

  it('seq2seq: sentence vector [batch, hidden], next-token logits [batch, length, vocab]', () => {
    const s = new Seq2Seq(new ParamStore(new Rng(1)), { vocabSize: 12, wordDim: 4, hidden: 6 });
    const tokens = tf.tensor2d([[5, 6, 7], [8, 0, 0]], [2, 3], 'int32');
    expect(s.encode(tokens).shape).toEqual([2, 6]);
    expect(s.reconstruct(tokens, tf.tensor2d([[2, 5, 6, 7], [2, 8, 0, 0]], [2, 4], 'int32')).shape).toEqual([2, 4, 12]);
    // Padding after the last real token leaves the final state unchanged.
    const short = s.encode(tf.tensor2d([[8]], [1, 1], 'int32'));
    Array.from(short.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(s.encode(tokens).dataSync()[6 + i], 5));
  });
});

describe('losses', () => {
  it('contrastive loss matches a hand computation', () => {
    const t = tf.tensor2d([[1, 0], [0, 1]]);
    const i = tf.tensor2d([[1, 0], [0.6, 0.8]]);
    // logits = t i^T / 0.5 = [[2, 1.2], [0, 1.6]]
    const ce = (row: number[], k: number) => Math.log(row.reduce((s, x) => s + Math.exp(x), 0)) - row[k];
    const t2i = (ce([2, 1.2], 0) + ce([0, 1.6], 1)) / 2;
    const i2t = (ce([2, 0], 0) + ce([1.2, 1.6], 1)) / 2;
    expect(contrastiveLoss(t, i, 0.5).dataSync()[0]).toBeCloseTo((t2i + i2t) / 2, 5);
  });

  it('masked token loss averages -log p(target) over unmasked positions only', () => {
    const logits = tf.tensor3d([[[0, Math.log(3)], [5, 5]]]); // p = [1/4, 3/4], [1/2, 1/2]
    const targets = tf.tensor2d([[1, 0]], [1, 2], 'int32');
    expect(maskedTokenLoss(logits, targets, tf.tensor2d([[1, 0]])).dataSync()[0]).toBeCloseTo(-Math.log(0.75), 5);
    expect(maskedTokenLoss(logits, targets, tf.tensor2d([[1, 1]])).dataSync()[0]).toBeCloseTo((-Math.log(0.75) - Math.log(0.5)) / 2, 5);
  });
});

describe('encoder identity', () => {
  it('is the same for the same weights and vocabulary, in any order, and differs when either differs', async () => {
    const vars = (a: number[], b: number[]) => new Map([['text/b', tf.variable(tf.tensor1d(b))], ['text/a', tf.variable(tf.tensor1d(a))]]);
    const vocab = { tokens: ['<pad>', 'red'] };
    const id = await encoderIdentity(vars([1, 2], [3]), vocab);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(await encoderIdentity(new Map([...vars([1, 2], [3])].reverse()), vocab)).toBe(id);
    expect(await encoderIdentity(vars([1, 2.0001], [3]), vocab)).not.toBe(id);
    expect(await encoderIdentity(vars([1, 2], [3]), { tokens: ['<pad>', 'blue'] })).not.toBe(id);
    expect(await encoderIdentity(vars([1, 2], [3]), vocab, Float32Array.from([0.6, 0.8]))).not.toBe(id);
  });
});
