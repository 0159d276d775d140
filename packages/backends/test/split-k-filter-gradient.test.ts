import { beforeAll, describe, expect, it } from 'vitest';
import { chunkRows, composedIm2col, type Im2col, splitKFilterGradient } from '../src/webgpu/split-k-filter-gradient.ts';
import { tf } from '../src/index.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

/** The split-K kernel, called as the engine would call it, on the cpu backend's kernels. */
/** The composed im2col as a backend whose buffers hold `bytes` at most would offer it. */
const capped = (bytes: number): Im2col => Object.assign((...args: Parameters<Im2col>) => composedIm2col(...args), { maxBytes: () => bytes });

function filterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], strides: number, pad: Pad, limits: { chunkLimit: number; maxBytes?: number; backendBytes?: number }): tf.Tensor4D {
  const { backendBytes, ...options } = limits;
  const out = splitKFilterGradient('cpu', backendBytes ? capped(backendBytes) : composedIm2col, options)({ inputs: { x, dy }, backend: tf.backend(), attrs: { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape } as never });
  return tf.engine().makeTensorFromTensorInfo(out as tf.TensorInfo) as tf.Tensor4D;
}

describe('split-K conv filter gradient', () => {
  const cases: { x: [number, number, number, number]; k: number; co: number; stride: number; pad: Pad }[] = [
    { x: [2, 9, 9, 3], k: 4, co: 5, stride: 2, pad: 'same' },
    { x: [2, 8, 8, 5], k: 3, co: 4, stride: 1, pad: 'same' },
    { x: [3, 7, 10, 2], k: 3, co: 6, stride: 1, pad: 'valid' },
    { x: [2, 11, 9, 4], k: 4, co: 3, stride: 3, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
    { x: [2, 8, 8, 6], k: 1, co: 4, stride: 1, pad: 'same' },
  ];
  for (const { x: shape, k, co, stride, pad } of cases) {
    for (const limits of [{ chunkLimit: 4096 }, { chunkLimit: 7 }, { chunkLimit: 4096, maxBytes: 1 }, { chunkLimit: 4096, backendBytes: 700 }]) {
      it(`matches the backend's own kernel: x [${shape}], ${k}x${k}, stride ${stride}, pad ${JSON.stringify(pad)}, ${JSON.stringify(limits)}`, () => {
        const filterShape: [number, number, number, number] = [k, k, shape[3], co];
        const x = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
        const [, ho, wo] = tf.conv2d(x, tf.zeros(filterShape) as tf.Tensor4D, stride, pad).shape;
        const dy = tf.randomNormal([shape[0], ho, wo, co], 0, 1, 'float32', 2) as tf.Tensor4D;
        const want = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape } as never) as tf.Tensor4D;
        const buffers = tf.engine().backend.numDataIds();
        const got = filterGradient(x, dy, filterShape, stride, pad, limits);
        // Only the result is left behind.
        expect(tf.engine().backend.numDataIds()).toBe(buffers + 1);
        expect(got.shape).toEqual(filterShape);
        expect(tf.abs(got.sub(want)).max().dataSync()[0]).toBeLessThan(1e-4 * Math.max(1, tf.abs(want).max().dataSync()[0]));
      });
    }
  }

  it('cuts M into the longest chunks that tile it exactly', () => {
    expect(chunkRows(64 * 32 * 32)).toBe(4096);
    expect(chunkRows(3 * 5 * 7, 10)).toBe(7);
    expect(chunkRows(13, 10)).toBe(1);
  });
});
