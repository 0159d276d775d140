/**
 * Throughput of the convolution and its two gradients on the tfjs wasm backend, for StackGAN's
 * layer shapes at batch 16: on wasm (XNNPACK and t2i's replacement gradients), then on ONNX
 * Runtime's native kernels (`--conv native`) where onnxruntime-node loads, in the same run, beside
 * the wasm matmul rate; and the stock Conv2DBackpropInput on two shapes. Prints tables; nothing
 * here is a test.
 *   cd bench && pnpm tsx wasm-kernels.ts [--threads N]
 */
import os from 'node:os';
import { intFlag } from '@t2i/core';
import { initBackend, onnxRuntime, registerNativeConvolutions, tf } from '@t2i/backends';
import { z } from 'zod';
import { benchFlags } from './flags.ts';

const { threads: asked } = benchFlags(
  'wasm-kernels.ts',
  "Throughput of the convolution and its gradients on wasm and on ONNX Runtime's native kernels, for StackGAN's layer shapes at batch 16, beside the wasm matmul rate",
  (c) => c.option('--threads <n>', "the wasm backend's and ONNX Runtime's threads (default: every core)"),
  z.object({ threads: intFlag().optional() }),
);

const BATCH = 16;

interface Layer {
  name: string;
  h: number;
  ci: number;
  co: number;
  k: number;
  stride: number;
}

const layers: Layer[] = [
  { name: '4x4/2 64x64x3->32x32x64', h: 64, ci: 3, co: 64, k: 4, stride: 2 },
  { name: '4x4/2 32x32x64->16x16x128', h: 32, ci: 64, co: 128, k: 4, stride: 2 },
  { name: '4x4/2 16x16x128->8x8x256', h: 16, ci: 128, co: 256, k: 4, stride: 2 },
  { name: '4x4/2 8x8x256->4x4x512', h: 8, ci: 256, co: 512, k: 4, stride: 2 },
  { name: '3x3/1 8x8x512->8x8x256', h: 8, ci: 512, co: 256, k: 3, stride: 1 },
  { name: '3x3/1 16x16x256->16x16x128', h: 16, ci: 256, co: 128, k: 3, stride: 1 },
  { name: '3x3/1 32x32x128->32x32x64', h: 32, ci: 128, co: 64, k: 3, stride: 1 },
  { name: '3x3/1 64x64x64->64x64x32', h: 64, ci: 64, co: 32, k: 3, stride: 1 },
];

/**
 * Fastest seconds per call over at least `minReps` calls and about `budget` seconds, after one
 * warm-up: on a shared machine the minimum is the figure least disturbed by other work.
 */
function seconds(f: () => tf.TensorContainer, minReps = 3, budget = 1): number {
  tf.dispose(f());
  let best = Infinity;
  const start = performance.now();
  for (let reps = 0; reps < minReps || (performance.now() - start) / 1000 < budget; reps++) {
    const t = performance.now();
    tf.dispose(f());
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

const gflops = (flop: number, s: number) => (flop / s / 1e9).toFixed(1);

// Kept before registration replaces it, to measure what the replacement gains.
await import('@tensorflow/tfjs-backend-wasm');
const stockInputGrad = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
const { threads } = await initBackend({ backend: 'wasm', threads: asked, conv: 'wasm' });

const a = tf.randomNormal([1024, 1024]);
const b = tf.randomNormal([1024, 1024]);
const matmulRate = gflops(2 * 1024 ** 3, seconds(() => tf.matMul(a, b)));
tf.dispose([a, b]);

/** FLOPs of one of the layer's three kernels (each does the same multiply-adds). */
const layerFlops = (l: Layer) => 2 * BATCH * (l.h / l.stride) ** 2 * l.k * l.k * l.ci * l.co;

function setup(l: Layer) {
  const ho = l.h / l.stride;
  const x = tf.randomNormal([BATCH, l.h, l.h, l.ci]) as tf.Tensor4D;
  const w = tf.randomNormal([l.k, l.k, l.ci, l.co]) as tf.Tensor4D;
  const dy = tf.randomNormal([BATCH, ho, ho, l.co]) as tf.Tensor4D;
  const flop = layerFlops(l);
  const attrs = { strides: l.stride, pad: 'same' as const, dataFormat: 'NHWC' as const };
  return { x, w, dy, flop, attrs };
}

/** Seconds of the forward conv, the filter gradient and the input gradient of each layer, on whatever kernels are registered now. */
function convSeconds(): number[][] {
  return layers.map((l) => {
    const { x, w, dy, attrs } = setup(l);
    const times = [
      seconds(() => tf.conv2d(x, w, l.stride, 'same')),
      seconds(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor),
      seconds(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor),
    ];
    tf.dispose([x, w, dy]);
    return times;
  });
}

console.log(`tfjs ${tf.version.tfjs}, wasm backend, ${threads} thread(s), ${os.cpus()[0]?.model ?? 'unknown cpu'}; batch ${BATCH}; 'same' padding`);
console.log(`wasm matMul 1024x1024x1024: ${matmulRate} GFLOP/s\n`);
const onWasm = convSeconds();
const native = onnxRuntime() != null;
let onNative: number[][] = [];
if (native) {
  registerNativeConvolutions(threads ?? os.availableParallelism());
  onNative = convSeconds();
}
const cols = ['fwd', 'dW', 'dX'];
console.log(`GFLOP/s on wasm (XNNPACK)${native ? ', on ONNX Runtime (native) and native over wasm' : ' (onnxruntime-node did not load: no native columns)'}`);
console.log(['layer'.padEnd(28), 'GFLOP'.padStart(6), ...cols.map((c) => `wasm ${c}`.padStart(9)), ...(native ? [...cols.map((c) => `nat ${c}`.padStart(9)), ...cols.map((c) => `x ${c}`.padStart(7))] : [])].join(' '));
layers.forEach((l, i) => {
  const flop = layerFlops(l);
  const row = [l.name.padEnd(28), (flop / 1e9).toFixed(2).padStart(6), ...onWasm[i].map((s) => gflops(flop, s).padStart(9))];
  if (native) row.push(...onNative[i].map((s) => gflops(flop, s).padStart(9)), ...onNative[i].map((s, j) => (onWasm[i][j] / s).toFixed(2).padStart(7)));
  console.log(row.join(' '));
});
const total = (t: number[][]) => t.flat().reduce((a, b) => a + b, 0);
if (native) console.log(`all layers, all three kernels: ${(total(onWasm) * 1000).toFixed(1)} ms on wasm, ${(total(onNative) * 1000).toFixed(1)} ms native (${(total(onWasm) / total(onNative)).toFixed(2)}x)`);

console.log(`\nConv2DBackpropInput, ${native ? 'native' : 'replacement'} against the stock wasm kernel (timed once after a warm-up: it is slow)`);
console.log(`${'layer'.padEnd(28)} ${'stock GF/s'.padStart(11)} ${'ours GF/s'.padStart(10)} ${'speedup'.padStart(8)}`);
for (const l of [layers[0], layers[4]]) {
  const { x, w, dy, flop, attrs } = setup(l);
  const backend = tf.backend();
  const stock = seconds(() => {
    const info = stockInputGrad.kernelFunc({ inputs: { dy, filter: w }, backend, attrs: { ...attrs, inputShape: x.shape } }) as tf.TensorInfo;
    backend.disposeData(info.dataId);
    return [];
  }, 1, 0);
  const ours = seconds(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor);
  console.log(`${l.name.padEnd(28)} ${gflops(flop, stock).padStart(11)} ${gflops(flop, ours).padStart(10)} ${(stock / ours).toFixed(1).padStart(7)}x`);
  tf.dispose([x, w, dy]);
}
