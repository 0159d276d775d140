import { tf } from '../src/backend.ts';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../src/wasm/kernels.ts';
import { convCase, convCases, expectWasmMatchesCpu, kernel, normal, relativeError, runOn, tensor, TOLERANCE } from './kernel-cases.ts';

const replaced = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'Slice',
  'SplitV',
  'Unpack',
  'Tile',
  'UnsortedSegmentSum',
  'ResizeNearestNeighborGrad',
  'BatchMatMul',
  'Sum',
  'Mean',
  'Tanh',
  'LeakyRelu',
  'FusedBatchNorm',
];
// Importing the wasm backend registered its own kernels; nothing has replaced them yet.
const stock = replaced.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);

describe('wasm training kernels against the cpu backend', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('replaces the stock kernels, once however often it is called', () => {
    const ours = replaced.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc);
    registerWasmTrainingKernels();
    expect(replaced.map((n) => tf.getKernel(n, 'wasm')?.kernelFunc)).toEqual(ours);
    ours.forEach((f, i) => {
      expect(f, replaced[i]).toBeDefined();
      expect(f, replaced[i]).not.toBe(stock[i]);
    });
  });

  it.each(convCases)('Conv2DBackpropFilter $h x $w, k $k, stride $strides, pad $pad', (c) => expectWasmMatchesCpu(convCase(c).filterGradient));

  it.each(convCases)('Conv2DBackpropInput $h x $w, k $k, stride $strides, pad $pad', (c) => expectWasmMatchesCpu(convCase(c).inputGradient));

  it('conv gradients stay exact at training-sized channel counts', async () => {
    const x = normal([2, 9, 7, 32]);
    const dy = normal([2, 5, 4, 48]);
    const filter = normal([4, 4, 32, 48]);
    const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC' };
    await expectWasmMatchesCpu(() => [
      kernel('Conv2DBackpropFilter', { x: tensor(x), dy: tensor(dy) }, { ...attrs, filterShape: filter.shape }) as tf.Tensor,
      kernel('Conv2DBackpropInput', { dy: tensor(dy), filter: tensor(filter) }, { ...attrs, inputShape: x.shape }) as tf.Tensor,
    ]);
  });

  it('Slice, SplitV and Unpack', async () => {
    const x = normal([2, 7, 9, 5]);
    await expectWasmMatchesCpu(() => [
      tf.slice(tensor(x), [1, 2, 3, 1], [1, 4, 5, 3]),
      tf.slice(tensor(x), [0, 3, 0, 0], [2, 2, 9, 5]),
      tf.slice(tensor(x).reshape([14, 45]), [3, 7], [5, 30]),
      ...tf.split(tensor(x), [2, 1, 2], 3),
      ...tf.split(tensor(x), [3, 4], 1),
      ...tf.unstack(tensor(x), 2),
      ...tf.unstack(tensor(x), 0),
    ]);
  });

  it('Tile', async () => {
    const x = normal([2, 1, 3, 5]);
    const channel = normal([1, 1, 1, 5]);
    await expectWasmMatchesCpu(() => [
      tf.tile(tensor(x), [2, 7, 3, 1]),
      tf.tile(tensor(channel), [2, 7, 9, 1]),
      tf.tile(tensor(x).reshape([6, 5]), [3, 2]),
      tf.tile(tf.tensor2d([[1, 2, 3]], [1, 3], 'int32'), [3, 2]).toFloat(),
    ]);
  });

  it('UnsortedSegmentSum, and the gather gradient it is', async () => {
    const data = normal([7, 3, 5]);
    const ids = Int32Array.from([0, 4, 4, 1, -1, 9, 0]);
    const table = normal([11, 6]);
    const rows = Int32Array.from([3, 0, 3, 10, 7, 3, 2, 2, 9]);
    await expectWasmMatchesCpu(() => [
      tf.unsortedSegmentSum(tensor(data), tf.tensor1d(ids, 'int32'), 6),
      tf.unsortedSegmentSum(tensor(data).reshape([7, 15]), tf.tensor1d(Int32Array.from([3, 3, 3, 0, 1, 2, 3]), 'int32'), 4),
      tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor2d(rows, [3, 3], 'int32')).square().sum())(tensor(table)),
    ]);
  });

  it('ResizeNearestNeighborGrad', async () => {
    const images = normal([2, 5, 7, 3]);
    const cases = [
      { dy: normal([2, 10, 14, 3]), alignCorners: false, halfPixelCenters: false },
      { dy: normal([2, 10, 21, 3]), alignCorners: false, halfPixelCenters: true },
      { dy: normal([2, 11, 13, 3]), alignCorners: false, halfPixelCenters: false },
      { dy: normal([2, 10, 14, 3]), alignCorners: true, halfPixelCenters: false },
    ];
    const grad = (im: tf.Tensor, dy: tf.Tensor, attrs: object) => kernel('ResizeNearestNeighborGrad', { images: im, dy }, attrs) as tf.Tensor;
    await expectWasmMatchesCpu(() => cases.map(({ dy, ...attrs }) => grad(tensor(images), tensor(dy), attrs)));
  });

  it('BatchMatMul, every transpose, batched and broadcast', async () => {
    const outputs: (() => tf.Tensor)[] = [];
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const shapeA = (m: number, k: number) => (ta ? [k, m] : [m, k]);
        const shapeB = (k: number, n: number) => (tb ? [n, k] : [k, n]);
        const a = normal(shapeA(5, 7)), b = normal(shapeB(7, 9));
        const wideA = normal(shapeA(3, 301)), wideB = normal(shapeB(301, 203));
        const ba = normal([3, ...shapeA(5, 7)]), bb = normal([3, ...shapeB(7, 9)]);
        const a1 = normal([1, ...shapeA(5, 7)]), b1 = normal([1, ...shapeB(7, 9)]);
        outputs.push(
          () => tf.matMul(tensor(a), tensor(b), ta, tb),
          () => tf.matMul(tensor(wideA), tensor(wideB), ta, tb),
          () => tf.matMul(tensor(ba), tensor(bb), ta, tb),
          () => tf.matMul(tensor(ba), tensor(b1), ta, tb),
          () => tf.matMul(tensor(a1), tensor(bb), ta, tb),
        );
      }
    }
    await expectWasmMatchesCpu(() => outputs.map((f) => f()));
  });

  it('Sum and Mean over leading, inner and other axes', async () => {
    const x = normal([2, 7, 9, 5], 3);
    await expectWasmMatchesCpu(() => [
      tf.sum(tensor(x), [0, 1, 2]),
      tf.sum(tensor(x), [1, 0], true),
      tf.sum(tensor(x), 0),
      tf.sum(tensor(x), [1, 2]),
      tf.sum(tensor(x), [2, 1], true),
      tf.sum(tensor(x), [0, 2]),
      tf.mean(tensor(x), 2),
      // Batch norm over stacked batches: one set of statistics per group.
      ...Object.values(tf.moments(tensor(x).reshape([2, 63, 5]), 1, true)),
      tf.mean(tensor(x), [0, 1, 2]),
      tf.mean(tensor(x), [0, 1, 2], true),
      tf.mean(tensor(x), -1),
      ...Object.values(tf.moments(tensor(x), [0, 1, 2])),
    ]);
  });

  it('Sum and Mean over rows wider than the average pool takes (a 16384-wide FC output, a prime width)', async () => {
    const wide = normal([3, 16384], 4);
    const prime = normal([2, 8209], 5);
    await expectWasmMatchesCpu(() => [tf.sum(tensor(wide), 0), tf.mean(tensor(wide), 0), tf.mean(tensor(prime), 0, true)]);
  });

  it('Tanh, LeakyRelu and FusedBatchNorm', async () => {
    const x = normal([2, 7, 9, 5], 3);
    const mean = normal([5]), variance = { values: normal([5]).values.map(Math.abs), shape: [5] };
    const scale = normal([5]), offset = normal([5]);
    const channelShaped = (p: { values: Float32Array; shape: number[] }) => tensor(p).reshape([1, 1, 1, 5]);
    await expectWasmMatchesCpu(() => [
      tf.tanh(tensor(x)),
      tf.leakyRelu(tensor(x), 0.2),
      tf.leakyRelu(tensor(x).reshape([630]), 0.1),
      tf.batchNorm(tensor(x), tensor(mean), tensor(variance), tensor(offset), tensor(scale), 1e-3),
      tf.batchNorm(tensor(x), tensor(mean), tensor(variance), undefined, undefined, 1e-3),
      tf.batchNorm(tensor(x), channelShaped(mean), channelShaped(variance), channelShaped(offset), channelShaped(scale), 1e-3),
      tf.batchNorm(tensor(x), tensor(x).mean(0, true), tensor(x).square().mean(0, true), channelShaped(offset), channelShaped(scale), 1e-3),
    ]);
  });

  it('gradients of a small conv net agree with cpu for every weight', async () => {
    const x = normal([3, 7, 9, 3]);
    const target = normal([3, 12, 16, 2]);
    const shapes = {
      down: [4, 4, 3, 6],
      gamma: [6],
      beta: [6],
      up: [3, 3, 6, 5],
      transposed: [4, 4, 2, 5],
      dense: [2 * 12 * 16, 4],
    };
    const weights = Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, normal(s, 0.3)]));
    const loss = (w: Record<string, tf.Tensor>) => {
      let h = tf.conv2d(tensor(x) as tf.Tensor4D, w.down as tf.Tensor4D, 2, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const normed = tf.leakyRelu(tf.batchNorm(h, mean, variance, w.beta, w.gamma, 1e-5), 0.2) as tf.Tensor4D;
      h = tf.image.resizeNearestNeighbor(normed, [normed.shape[1] * 2, normed.shape[2] * 2]);
      h = tf.leakyRelu(tf.conv2d(h, w.up as tf.Tensor4D, 1, 'valid'), 0.2);
      const y = tf.tanh(tf.conv2dTranspose(h, w.transposed as tf.Tensor4D, [3, 12, 16, 2], 2, 'same'));
      const logits = tf.matMul(y.reshape([3, -1]), w.dense);
      const realness = tf.losses.sigmoidCrossEntropy(tf.onesLike(logits), logits);
      return tf.add(tf.losses.meanSquaredError(tensor(target), y), realness) as tf.Scalar;
    };
    const names = Object.keys(shapes);
    const grads = () => tf.grads((...ts: tf.Tensor[]) => loss(Object.fromEntries(names.map((n, i) => [n, ts[i]]))))(names.map((n) => tensor(weights[n])));
    const expected = await runOn('cpu', grads);
    const actual = await runOn('wasm', grads);
    const errors = Object.fromEntries(names.map((name, i) => [name, relativeError([expected[i]], [actual[i]])]));
    for (const name of names) expect(errors[name], JSON.stringify(errors)).toBeLessThan(TOLERANCE);
  });
});
