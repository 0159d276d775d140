/**
 * The conv filter gradient as one matmul, for a backend whose own kernel gives each weight-gradient
 * element one thread that loops over all N·Ho·Wo output positions: on webgpu a tenth of the
 * backend's matmul rate, half of a Stage I step (docs/webgpu.md).
 *
 *   dW[kh, kw, ci, co] = Σ_{n,oh,ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]
 *
 * is Pᵀ·DY, with P the input's patches (im2col: one row per output position, one column per
 * (kh, kw, ci), the filter's own order), [M, K], and DY the output gradient, [M, Co], M = N·Ho·Wo.
 * M runs to hundreds of thousands while K×Co is small, so M is cut into S chunks of L rows
 * (split-K): one batched matmul [S, K, L]·[S, L, Co] keeps S times more of the GPU busy, and a sum
 * over S finishes it. Three kernel calls in all, where a call's host-side cost on webgpu is about
 * that of a small kernel's run; images are taken in groups only where P would outgrow `maxBytes`
 * or the backend's largest buffer.
 *
 * How P is built is the caller's: `composedIm2col` (strided slices and a concat, any backend, what
 * the tests run) or im2col.ts's single shader.
 */
import { backend_util, Conv2DBackpropFilter, type Conv2DBackpropFilterAttrs, type KernelBackend, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { callKernel, free, replaceKernel, tapReach } from '../kernel-util.ts';

/** Rows per split: long enough for the matmul's tiles, short enough for S to fill the GPU. */
const CHUNK_ROWS = 4096;
/** The most one pass's patch matrix may take (all of a batch at once for every Stage I layer at batch 64). */
const MAX_PATCH_BYTES = 2 ** 30;

export type Conv2DInfo = backend_util.Conv2DInfo;
/** Calls a kernel of the backend at hand, returning its one output. */
export type Run = (kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs?: object) => TensorInfo;
/**
 * x [n, h, w, ci] to its patches [n·Ho·Wo, kh·kw·ci] for the conv `info` describes (its batch size
 * is n); `maxBytes`, where the backend caps one buffer's size, is that cap.
 */
export type Im2col = ((x: TensorInfo, info: Conv2DInfo, backend: KernelBackend, run: Run) => TensorInfo) & { maxBytes?: (backend: KernelBackend) => number };

/** The largest divisor of m that is at most `limit`: chunks must tile M exactly. */
export function chunkRows(m: number, limit = CHUNK_ROWS): number {
  for (let l = Math.min(m, limit); l > 1; l--) if (m % l === 0) return l;
  return 1;
}

/** im2col from the backend's own kernels: each tap's strided slice of the padded input, concatenated along channels. */
export const composedIm2col: Im2col = (x, info, backend, run) => {
  const { batchSize: n, inChannels: ci, outHeight: ho, outWidth: wo } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  // Padded so that every tap's strided slice lies inside; a negative pad (rows no tap reaches) is none.
  const [padBottom, padRight] = tapReach(info).map((p) => Math.max(0, p));
  const padded = run('PadV2', { x }, { paddings: [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]], constantValue: 0 });
  const taps: TensorInfo[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      taps.push(
        run('StridedSlice', { x: padded }, {
          begin: [0, i, j, 0],
          end: [n, i + (ho - 1) * sh + 1, j + (wo - 1) * sw + 1, ci],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        }),
      );
    }
  }
  const patches = taps.length === 1 ? taps[0] : run('Concat', taps, { axis: 3 });
  const out = run('Reshape', { x: patches }, { shape: [n * ho * wo, kh * kw * ci] });
  free(backend, padded, ...(taps.length === 1 ? [] : [patches]), ...taps);
  return out;
};

export function splitKFilterGradient(backendName: string, im2col: Im2col = composedIm2col, { chunkLimit = CHUNK_ROWS, maxBytes = MAX_PATCH_BYTES } = {}): KernelFunc {
  return (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const backend = args.backend as KernelBackend;
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') throw new Error('split-K Conv2DBackpropFilter supports NHWC only');
    const run: Run = (kernelName, inputs, kernelAttrs = {}) => callKernel(backendName, backend, kernelName, inputs, kernelAttrs);
    const conv = (n: number) => backend_util.computeConv2DInfo([n, ...(x.shape.slice(1) as [number, number, number])], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const [n, h, w, ci] = x.shape;
    const { outHeight: ho, outWidth: wo, outChannels: co } = conv(n);
    const [kh, kw] = attrs.filterShape;
    const k = kh * kw * ci;
    const limit = Math.min(maxBytes, im2col.maxBytes?.(backend) ?? Infinity);
    const group = Math.max(1, Math.min(n, Math.floor(limit / (ho * wo * k * 4))));

    let total: TensorInfo | undefined;
    for (let first = 0; first < n; first += group) {
      const count = Math.min(group, n - first);
      const whole = count === n;
      const xs = whole ? x : run('Slice', { x }, { begin: [first, 0, 0, 0], size: [count, h, w, ci] });
      const dys = whole ? dy : run('Slice', { x: dy }, { begin: [first, 0, 0, 0], size: [count, ho, wo, co] });
      const patches = im2col(xs, conv(count), backend, run);
      const m = count * ho * wo;
      const rows = chunkRows(m, chunkLimit);
      const a = run('Reshape', { x: patches }, { shape: [m / rows, rows, k] });
      const b = run('Reshape', { x: dys }, { shape: [m / rows, rows, co] });
      const partial = run('BatchMatMul', { a, b }, { transposeA: true, transposeB: false });
      const sum = run('Sum', { x: partial }, { axis: [0], keepDims: false });
      free(backend, patches, a, b, partial, ...(whole ? [] : [xs, dys]));
      if (total) {
        const next = run('Add', { a: total, b: sum });
        free(backend, total, sum);
        total = next;
      } else {
        total = sum;
      }
    }
    const out = run('Reshape', { x: total! }, { shape: [kh, kw, ci, co] });
    free(backend, total!);
    return out;
  };
}

/** Puts the split-K filter gradient in place of `backendName`'s own, which stays for NCHW. */
export function registerSplitKFilterGradient(backendName: string, im2col?: Im2col): void {
  const ours = splitKFilterGradient(backendName, im2col);
  replaceKernel(Conv2DBackpropFilter, backendName, (args, stock) => ((args.attrs as unknown as Conv2DBackpropFilterAttrs).dataFormat === 'NCHW' ? stock(args) : ours(args)));
}
