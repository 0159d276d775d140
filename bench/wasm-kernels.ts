/**
 * Throughput of the replacement conv-gradient kernels on the tfjs wasm backend, for StackGAN's
 * layer shapes at batch 16, beside the wasm matmul rate measured in the same run and the stock
 * Conv2DBackpropInput on two shapes. Prints tables; nothing here is a test.
 *   cd bench && pnpm tsx wasm-kernels.ts
 */
import os from 'node:os';
import { registerWasmTrainingKernels, tf } from '@t2i/backends';
import '@tensorflow/tfjs-backend-wasm';
import { z } from 'zod';
import { benchFlags } from './flags.ts';

// No flags: --help says what it measures.
benchFlags('wasm-kernels.ts', "Throughput of t2i's wasm conv-gradient kernels for StackGAN's layer shapes at batch 16, beside the wasm matmul rate", (c) => c, z.object({}));

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
const stockInputGrad = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
registerWasmTrainingKernels();
await tf.setBackend('wasm');
await tf.ready();

const a = tf.randomNormal([1024, 1024]);
const b = tf.randomNormal([1024, 1024]);
const matmulRate = gflops(2 * 1024 ** 3, seconds(() => tf.matMul(a, b)));
tf.dispose([a, b]);

function setup(l: Layer) {
  const ho = l.h / l.stride;
  const x = tf.randomNormal([BATCH, l.h, l.h, l.ci]) as tf.Tensor4D;
  const w = tf.randomNormal([l.k, l.k, l.ci, l.co]) as tf.Tensor4D;
  const dy = tf.randomNormal([BATCH, ho, ho, l.co]) as tf.Tensor4D;
  const flop = 2 * BATCH * ho * ho * l.k * l.k * l.ci * l.co;
  const attrs = { strides: l.stride, pad: 'same' as const, dataFormat: 'NHWC' as const };
  return { x, w, dy, flop, attrs };
}

console.log(`tfjs ${tf.version.tfjs}, wasm backend, ${os.cpus()[0]?.model ?? 'unknown cpu'}; batch ${BATCH}; 'same' padding`);
console.log(`wasm matMul 1024x1024x1024: ${matmulRate} GFLOP/s\n`);
console.log(`${'layer'.padEnd(28)} ${'GFLOP'.padStart(6)} ${'fwd GF/s'.padStart(9)} ${'dW GF/s'.padStart(9)} ${'dX GF/s'.padStart(9)}`);
for (const l of layers) {
  const { x, w, dy, flop, attrs } = setup(l);
  const fwd = seconds(() => tf.conv2d(x, w, l.stride, 'same'));
  const dW = seconds(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape }) as tf.Tensor);
  const dX = seconds(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape }) as tf.Tensor);
  console.log(`${l.name.padEnd(28)} ${(flop / 1e9).toFixed(2).padStart(6)} ${gflops(flop, fwd).padStart(9)} ${gflops(flop, dW).padStart(9)} ${gflops(flop, dX).padStart(9)}`);
  tf.dispose([x, w, dy]);
}

console.log(`\nConv2DBackpropInput, replacement against the stock wasm kernel (timed once after a warm-up: it is slow)`);
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
