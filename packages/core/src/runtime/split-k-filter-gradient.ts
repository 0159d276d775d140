/**
 * The conv filter gradient as matmuls, for a backend whose own kernel gives each weight-gradient
 * element one thread that loops over all N·Ho·Wo output positions: on webgpu that kernel ran at
 * 0.6 TFLOP/s where the backend's matmul runs at 10 (issue 7), half of a Stage I step. Every
 * position is a row of a matmul instead:
 *
 *   dW[kh, kw] = Σ_{n,oh,ow} x[n, oh·s + kh − pad, ow·s + kw − pad, :]ᵀ · dy[n, oh, ow, :]
 *
 * is, for each tap (kh, kw), Xₖᵀ·DY with Xₖ the input sampled at that tap, [M, Ci], and DY the
 * output gradient, [M, Co], M = N·Ho·Wo. M runs to hundreds of thousands while Ci×Co is small, so
 * M is cut into S chunks of L rows (split-K): one batched matmul [S, Ci, L]·[S, L, Co] keeps S
 * times more of the GPU busy, and a sum over S finishes it.
 *
 * Built only from the backend's own kernels (pad, strided slice, reshape, batched matmul, sum,
 * concat), so it runs, and is tested, on any backend.
 */
import { backend_util, Conv2DBackpropFilter, getKernel, registerKernel, unregisterKernel, type Conv2DBackpropFilterAttrs, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { callKernel, free } from './kernel-util.ts';

/** Rows per split: long enough for the matmul's tiles, short enough for S to fill the GPU. */
const CHUNK_ROWS = 4096;

/** The largest divisor of m that is at most `limit`: chunks must tile M exactly. */
export function chunkRows(m: number, limit = CHUNK_ROWS): number {
  for (let l = Math.min(m, limit); l > 1; l--) if (m % l === 0) return l;
  return 1;
}

export function splitKFilterGradient(backendName: string, chunkLimit = CHUNK_ROWS): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const backend = args.backend as KernelBackend;
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') throw new Error('split-K Conv2DBackpropFilter supports NHWC only');
    const run = (kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], kernelAttrs: object = {}) => callKernel(backendName, backend, kernelName, inputs, kernelAttrs);
    const reshape = (t: TensorInfo, shape: number[]) => run('Reshape', { x: t }, { shape });

    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
    // Padded so that every tap's strided slice lies inside; a negative pad (rows no tap reaches) is none.
    const padBottom = Math.max(0, kh + (ho - 1) * sh - h - padInfo.top);
    const padRight = Math.max(0, kw + (wo - 1) * sw - w - padInfo.left);
    const padded = run('PadV2', { x }, { paddings: [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]], constantValue: 0 });

    const m = n * ho * wo;
    const rows = chunkRows(m, chunkLimit);
    const dyChunks = reshape(dy, [m / rows, rows, co]);
    const taps: TensorInfo[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tap = run('StridedSlice', { x: padded }, {
          begin: [0, i, j, 0],
          end: [n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, ci],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        });
        const tapChunks = reshape(tap, [m / rows, rows, ci]);
        const partial = run('BatchMatMul', { a: tapChunks, b: dyChunks }, { transposeA: true, transposeB: false });
        const sum = run('Sum', { x: partial }, { axis: [0], keepDims: true });
        free(backend, tap, tapChunks, partial);
        taps.push(sum);
      }
    }
    const stacked = run('Concat', taps, { axis: 0 });
    const out = reshape(stacked, [kh, kw, ci, co]);
    free(backend, padded, dyChunks, stacked, ...taps);
    return out;
  };
}

/** Puts the split-K filter gradient in place of `backendName`'s own, which stays for NCHW. */
export function registerSplitKFilterGradient(backendName: string): void {
  const stock = getKernel(Conv2DBackpropFilter, backendName);
  if (stock == null) throw new Error(`backend '${backendName}' has no Conv2DBackpropFilter to replace`);
  const ours = splitKFilterGradient(backendName);
  unregisterKernel(Conv2DBackpropFilter, backendName);
  registerKernel({
    kernelName: Conv2DBackpropFilter,
    backendName,
    kernelFunc: (args) => ((args.attrs as unknown as Conv2DBackpropFilterAttrs).dataFormat === 'NCHW' ? stock.kernelFunc(args) : ours(args)),
  });
}
