/**
 * Our webgpu kernels against tfjs's cpu kernels, on a real WebGPU adapter. CI has none, so this
 * runs only when asked: `T2I_TEST_WEBGPU=1 pnpm vitest run packages/backends/test/webgpu-kernels.test.ts`
 * (Mesa's lavapipe works: VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, stockWebgpuKernels, tf } from '../src/index.ts';
import { composedIm2col, type Run } from '../src/webgpu/split-k-filter-gradient.ts';
import { callKernel } from '../src/kernel-util.ts';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const cases: { x: Shape4; k: number; co: number; stride: number | [number, number]; pad: Pad }[] = [
  { x: [4, 16, 16, 3], k: 4, co: 8, stride: 2, pad: 'same' },
  { x: [2, 12, 12, 16], k: 3, co: 8, stride: 1, pad: 'same' },
  { x: [3, 9, 11, 5], k: 3, co: 6, stride: 1, pad: 'valid' },
  { x: [2, 8, 8, 32], k: 1, co: 4, stride: 1, pad: 'same' },
  { x: [2, 11, 9, 4], k: 4, co: 3, stride: [3, 2], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  // Stride 1 with pads that differ top to bottom and left to right: the input gradient turns them round.
  { x: [2, 10, 9, 5], k: 4, co: 7, stride: 1, pad: 'same' },
  { x: [2, 10, 9, 5], k: 3, co: 4, stride: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
];

const values = (shape: number[], seed: number) => tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);

describe.runIf(process.env.T2I_TEST_WEBGPU)('webgpu kernels', () => {
  beforeAll(async () => {
    await initBackend('webgpu');
  });

  for (const { x: shape, k, co, stride, pad } of cases) {
    const label = `x [${shape}], ${k}x${k}, stride ${stride}, pad ${JSON.stringify(pad)}`;
    const filterShape: Shape4 = [k, k, shape[3], co];
    const attrs = { strides: stride, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape };
    const inputs = async () => {
      const x = values(shape, 1);
      const [, ho, wo] = tf.conv2d(tf.zeros(shape) as tf.Tensor4D, tf.zeros(filterShape) as tf.Tensor4D, stride, pad).shape;
      return { x, dy: values([shape[0], ho, wo, co], 2), dyShape: [shape[0], ho, wo, co] };
    };

    it(`the filter gradient matches the cpu backend's: ${label}`, async () => {
      const { x, dy, dyShape } = await inputs();
      const on = async (backend: string) => {
        await tf.setBackend(backend);
        const out = tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(x, shape), dy: tf.tensor(dy, dyShape) }, attrs as never) as tf.Tensor;
        return Float32Array.from(await out.data());
      };
      const want = await on('cpu');
      const got = await on('webgpu');
      const scale = Math.max(...want.map(Math.abs));
      expect(Math.max(...got.map((g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-4 * scale);
    });

    it(`the input gradient matches the cpu backend's: ${label}`, async () => {
      const { dy, dyShape } = await inputs();
      const w = values(filterShape, 3);
      const on = async (backend: string) => {
        await tf.setBackend(backend);
        const out = tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dy, dyShape), filter: tf.tensor(w, filterShape) }, { ...attrs, inputShape: shape } as never) as tf.Tensor;
        return Float32Array.from(await out.data());
      };
      const want = await on('cpu');
      const got = await on('webgpu');
      const scale = Math.max(...want.map(Math.abs));
      expect(Math.max(...got.map((g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-4 * scale);
    });

    it(`the im2col shader matches the composed im2col: ${label}`, async () => {
      const { webgpuIm2col } = await import('../src/webgpu/im2col.ts');
      await tf.setBackend('webgpu');
      const backend = tf.backend();
      const run: Run = (name, ins, a = {}) => callKernel('webgpu', backend, name, ins, a);
      const xt = tf.tensor4d((await inputs()).x, shape);
      const info = tf.backend_util.computeConv2DInfo(shape, filterShape, stride, 1, pad);
      const patches = (im2col: typeof composedIm2col) => tf.engine().makeTensorFromTensorInfo(im2col(xt, info, backend, run));
      const [got, want] = [patches(webgpuIm2col), patches(composedIm2col)];
      expect(webgpuIm2col.maxBytes!(backend)).toBeGreaterThanOrEqual(2 ** 27);
      expect(got.shape).toEqual(want.shape);
      expect(Array.from(await got.data())).toEqual(Array.from(await want.data()));
    });
  }

  for (const { shape, axis, keepDims } of [
    { shape: [3, 2, 64], axis: 0, keepDims: false },
    { shape: [6, 128], axis: [0], keepDims: false },
    { shape: [4, 5, 6, 7], axis: [1, 0], keepDims: true },
    // Not ours (an inner axis; a column longer than 64): tfjs's kernel, still through the replacement.
    { shape: [4, 5, 6], axis: 1, keepDims: false },
    { shape: [100, 3], axis: 0, keepDims: false },
  ]) {
    it(`a sum over axes ${JSON.stringify(axis)} of [${shape}] matches the cpu backend's`, async () => {
      const x = values(shape, 6);
      const on = async (backend: string) => {
        await tf.setBackend(backend);
        const out = tf.sum(tf.tensor(x, shape), axis, keepDims);
        return { shape: out.shape, data: Float32Array.from(await out.data()) };
      };
      const want = await on('cpu');
      const got = await on('webgpu');
      expect(got.shape).toEqual(want.shape);
      expect(Math.max(...got.data.map((g, i) => Math.abs(g - want.data[i])))).toBeLessThan(1e-4);
    });
  }

  for (const [name, f] of [
    ['ReLU', (x: tf.Tensor) => tf.relu(x)],
    ['leaky ReLU', (x: tf.Tensor) => tf.leakyRelu(x, 0.2)],
  ] as const) {
    // The second shape needs more than 65,535 workgroups of 64: a dispatch over two dimensions.
    for (const shape of [[3, 5, 7], [2, 2049, 1024]]) {
      it(`the gradient of ${name} matches the cpu backend's, zeros included: [${shape}]`, async () => {
        const x = values(shape, 8).map((v, i) => (i % 5 === 0 ? 0 : v));
        const dy = values(shape, 9);
        const on = async (backend: string) => {
          await tf.setBackend(backend);
          const grad = tf.tidy(() => tf.grads((t: tf.Tensor) => f(t).mul(tf.tensor(dy, shape)).sum())([tf.tensor(x, shape)])[0]);
          const data = Float32Array.from(await grad.data());
          grad.dispose();
          return data;
        };
        const want = await on('cpu');
        const got = await on('webgpu');
        expect(got.every((g, i) => g === want[i])).toBe(true);
      });
    }
  }

  const closeTo = (got: Float32Array, want: Float32Array) => {
    expect(got.length).toBe(want.length);
    const scale = want.reduce((s, w) => Math.max(s, Math.abs(w)), 0);
    expect(got.reduce((e, g, i) => Math.max(e, Math.abs(g - want[i])), 0)).toBeLessThan(1e-5 * scale);
  };

  // Both tile sizes (128 where rows and columns reach 128, else 64), ragged edges, every transpose, batches broadcast or not.
  for (const { m, n, k, batchA, batchB } of [
    { m: 200, n: 150, k: 37, batchA: 1, batchB: 1 },
    { m: 70, n: 45, k: 19, batchA: 1, batchB: 1 },
    { m: 130, n: 129, k: 8, batchA: 3, batchB: 3 },
    { m: 64, n: 96, k: 33, batchA: 1, batchB: 2 },
  ]) {
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
      it(`our matrix product matches the cpu backend's: [${batchA}] ${m}x${k} · [${batchB}] ${k}x${n}, transposes ${transposeA}/${transposeB}`, async () => {
        const { gemm } = await import('../src/webgpu/gemm.ts');
        const aShape = [batchA, ...(transposeA ? [k, m] : [m, k])];
        const bShape = [batchB, ...(transposeB ? [n, k] : [k, n])];
        const [a, b] = [values(aShape, 11), values(bShape, 12)];
        await tf.setBackend('cpu');
        const want = Float32Array.from(await tf.matMul(tf.tensor3d(a, aShape as never), tf.tensor3d(b, bShape as never), transposeA, transposeB).data());
        await tf.setBackend('webgpu');
        const c = tf.engine().makeTensorFromTensorInfo(gemm(tf.backend(), tf.tensor(a, aShape), tf.tensor(b, bShape), transposeA, transposeB));
        expect(c.shape).toEqual([Math.max(batchA, batchB), m, n]);
        closeTo(Float32Array.from(await c.data()), want);
      });
    }
  }

  it('sends products to ours that fill its tiles, and leaves thin or deep narrow ones to tfjs', async () => {
    const { worthGemm } = await import('../src/webgpu/gemm.ts');
    // Stage I's full generator at batch 64: its 3x3 conv at 32x32, that conv's filter gradient in 16 chunks, its dense layer.
    expect(worthGemm(65536, 128, 2304)).toBe(true);
    expect(worthGemm(2304, 128, 4096, 16)).toBe(true);
    expect(worthGemm(64, 16384, 228)).toBe(true);
    // The conv to RGB, the dense layer's input gradient, a small product.
    expect(worthGemm(262144, 3, 1152)).toBe(false);
    expect(worthGemm(64, 228, 16384)).toBe(false);
    expect(worthGemm(64, 64, 64)).toBe(false);
  });

  // Shapes worthGemm sends to our product (the forward conv, and so the stride-1 input gradient, and the filter gradient).
  // Our product and conv are registered for these only when they are not already (they are off by default).
  const withOurGemm = (test: () => Promise<void>) => async () => {
    const { registerWebgpuGemm } = await import('../src/webgpu/gemm.ts');
    const kept = ['Conv2D', 'BatchMatMul'].map((name) => tf.getKernel(name, 'webgpu')!);
    const ours = stockWebgpuKernels().has('gemm');
    if (ours) registerWebgpuGemm();
    try {
      await test();
    } finally {
      if (ours) {
        for (const k of kept) {
          tf.unregisterKernel(k.kernelName, 'webgpu');
          tf.registerKernel(k);
        }
      }
    }
  };
  for (const { x: shape, k, co, stride, pad } of [
    { x: [2, 16, 16, 32], k: 3, co: 64, stride: 1, pad: 'same' as const },
    // 128 output channels: both products in the 128x128 tiles.
    { x: [2, 16, 16, 32], k: 3, co: 130, stride: 1, pad: 'same' as const },
    { x: [2, 32, 32, 16], k: 4, co: 64, stride: 2, pad: 'same' as const },
    { x: [3, 20, 18, 20], k: 3, co: 72, stride: 1, pad: 'valid' as const },
    { x: [2, 33, 31, 24], k: 4, co: 66, stride: 2, pad: 'same' as const },
    { x: [2, 20, 22, 16], k: 3, co: 64, stride: 1, pad: [[0, 0], [2, 0], [0, 1], [0, 0]] as Pad },
    // 5,120 output positions: the filter gradient's product in two chunks of 2,560, then summed.
    { x: [5, 32, 32, 8], k: 3, co: 64, stride: 1, pad: 'same' as const },
  ] as { x: number[]; k: number; co: number; stride: number; pad: Pad }[]) {
    it(`convs as our product over the patch matrix match the cpu backend's, forward and both gradients: x [${shape}], ${k}x${k}, stride ${stride}, pad ${JSON.stringify(pad)}`, withOurGemm(async () => {
      const { worthGemm } = await import('../src/webgpu/gemm.ts');
      const filterShape = [k, k, shape[3], co];
      const [x, w] = [values(shape, 21), values(filterShape, 22)];
      const info = tf.backend_util.computeConv2DInfo(shape as never, filterShape as never, stride, 1, pad);
      expect(worthGemm(shape[0] * info.outHeight * info.outWidth, co, k * k * shape[3])).toBe(true);
      const positions = shape[0] * info.outHeight * info.outWidth;
      expect(worthGemm(k * k * shape[3], co, Math.min(positions, 4096), Math.ceil(positions / 4096))).toBe(true);
      const on = async (backend: string) => {
        await tf.setBackend(backend);
        const [xt, wt] = [tf.tensor4d(x, shape as never), tf.tensor4d(w, filterShape as never)];
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad).square().sum();
        const y = tf.conv2d(xt, wt, stride, pad);
        const [dx, dw] = tf.grads(f)([xt, wt]);
        return Promise.all([y, dx, dw].map(async (t) => Float32Array.from(await t.data())));
      };
      const want = await on('cpu');
      const got = await on('webgpu');
      got.forEach((g, i) => closeTo(g, want[i]));
    }));
  }

  for (const deferral of [15, 1e9]) {
    it(`dispatches read their own uniforms, packed into shared buffers (${deferral === 15 ? 'a submission every 15 dispatches, as tfjs does' : 'one submission for all'})`, async () => {
      await tf.setBackend('webgpu');
      const before = tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE');
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', deferral);
      // Each slice is a dispatch whose uniforms hold its start: 3,000 of them fill several 64 KiB buffers.
      const n = 3000;
      const got = tf.tidy(() => {
        const x = tf.range(0, n);
        return tf.concat(Array.from({ length: n }, (_, i) => x.slice(n - 1 - i, 1)));
      });
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', before);
      expect(Array.from(await got.data())).toEqual(Array.from({ length: n }, (_, i) => n - 1 - i));
      got.dispose();
    });
  }
});
