import { tf } from '@t2i/backends';

/** FLOPs of one kernel call (from tf.profile) from its shapes: convs (and their gradients) and matmuls only. */
export function kernelFlops(k: { name: string; inputShapes: number[][]; outputShapes: number[][] }): number {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  switch (k.name) {
    case 'Conv2D':
    case 'FusedConv2D': {
      const [kh, kw, ci] = k.inputShapes[1];
      return 2 * size(k.outputShapes[0]) * kh * kw * ci;
    }
    case 'Conv2DBackpropInput': {
      const [kh, kw, , co] = k.inputShapes[1];
      return 2 * size(k.outputShapes[0]) * kh * kw * co;
    }
    case 'Conv2DBackpropFilter': {
      const [n, ho, wo] = k.inputShapes[1];
      return 2 * n * ho * wo * size(k.outputShapes[0]);
    }
    case 'BatchMatMul':
    case '_FusedMatMul':
    case 'MatMul': {
      // [.., M, N] = [.., M, K] x [.., K, N] (either side possibly transposed): K from a's size.
      const out = k.outputShapes[0];
      const m = out[out.length - 2];
      const batches = size(out) / (m * out[out.length - 1]);
      return 2 * size(out) * (size(k.inputShapes[0]) / (batches * m));
    }
    default:
      return 0;
  }
}

/** The fastest of `repeats` runs of `work`, in ms, each timed until its last output is read back. */
async function fastestMs(work: () => tf.Tensor[], repeats = 5): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    const outputs = work();
    await outputs[outputs.length - 1].data();
    tf.dispose(outputs);
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

/** The 3x3 convolution both rates are read at: batch 16, 32x32, 128 -> 128 channels (a Stage I layer at ngf 64). */
export const CONV_SHAPE = { batch: 16, side: 32, channels: 128 };

/** GFLOP/s of that convolution's forward pass (NHWC, 'same'), best of 5. */
export async function convGflops(): Promise<number> {
  const { batch, side, channels } = CONV_SHAPE;
  const x = tf.randomNormal([batch, side, side, channels]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, channels, channels]) as tf.Tensor4D;
  tf.dispose(tf.conv2d(x, w, 1, 'same'));
  const best = await fastestMs(() => [tf.conv2d(x, w, 1, 'same')]);
  tf.dispose([x, w]);
  return (2 * batch * side * side * channels * channels * 9) / (best / 1000) / 1e9;
}

/**
 * The current backend's 1024^3 matmul rate, GFLOP/s: the best of 5 after a warm-up. On webgpu each
 * timing covers 20 products queued back to back: one takes a GPU about a tenth of a millisecond,
 * less than reading a result back.
 */
export async function matmulGflops(): Promise<number> {
  const queued = tf.getBackend() === 'webgpu' ? 20 : 1;
  const a = tf.randomNormal([1024, 1024]);
  const b = tf.randomNormal([1024, 1024]);
  tf.dispose(tf.matMul(a, b));
  const best = (await fastestMs(() => Array.from({ length: queued }, () => tf.matMul(a, b)))) / queued;
  tf.dispose([a, b]);
  return (2 * 1024 ** 3) / (best / 1000) / 1e9;
}
