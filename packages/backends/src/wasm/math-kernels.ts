/**
 * Arithmetic kernels the wasm backend runs far below its neighbours on training-shaped inputs,
 * rerouted onto the kernels it runs fast on XNNPACK: plain matmul, average pooling, sigmoid,
 * PReLU and the binary arithmetic kernels.
 */
import {
  Add,
  AvgPool,
  BatchMatMul,
  broadcast_util,
  FusedBatchNorm,
  LeakyRelu,
  Mean,
  Multiply,
  Prelu,
  Sigmoid,
  Sub,
  Sum,
  Tanh,
  util,
  type BatchMatMulAttrs,
  type FusedBatchNormAttrs,
  type KernelConfig,
  type LeakyReluAttrs,
  type MeanAttrs,
  type SumAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, copyRun, free, heap, newTensor, reshaped, stock, transposeMatrix, wasmKernel, type WasmArgs } from './kernel-util.ts';

/** The stock kernel's XNNPACK path: one plain (untransposed, unbatched) float32 product. */
function plainMatMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return stock(BatchMatMul, { inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } }) as TensorInfo;
}

/** Where one factor of a plain product comes from: matrices rows×cols of `src`, used transposed when `flip`. */
interface Factor {
  src: TensorInfo;
  count: number;
  rows: number;
  cols: number;
  flip: boolean;
}

/** Matrix `index` of a factor, laid out for a plain product; `owned` when it had to be copied. */
function factorMatrix(backend: BackendWasm, f: Factor, index: number): { info: TensorInfo; owned: boolean } {
  if (!f.flip && f.count === 1) return { info: reshaped(f.src, [f.rows, f.cols]), owned: false };
  const info = newTensor(backend, f.flip ? [f.cols, f.rows] : [f.rows, f.cols]);
  const s = heap(backend, f.src);
  const d = heap(backend, info);
  const off = index * f.rows * f.cols;
  if (f.flip) transposeMatrix(s, off, d, 0, f.rows, f.cols);
  else copyRun(d, 0, s, off, f.rows * f.cols);
  return { info, owned: true };
}

// Only an untransposed, unbatched product reaches XNNPACK in the stock kernel (about 30 GFLOP/s);
// transposed or batched operands fall to a loop at under 3 GFLOP/s. Every dense-layer gradient
// is transposed (dA = dY·Bᵀ, dB = Aᵀ·dY), so transpose in JS and multiply plainly. Either
// C = op(A)·op(B) or Cᵀ = op(B)ᵀ·op(A)ᵀ can be multiplied plainly; pick the one that moves fewer
// elements, which for dA = dY·Wᵀ means transposing the small dY and C rather than the large W.
const batchMatMul = wasmKernel<'a' | 'b', BatchMatMulAttrs>(BatchMatMul, (args) => {
  const { backend } = args;
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs;
  const ra = a.shape.length;
  const rb = b.shape.length;
  let batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || (!transposeA && !transposeB && batchA === 1 && batchB === 1)) {
    return stock(BatchMatMul, args);
  }
  const batchShape = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  let steps = util.sizeFromShape(batchShape);
  if (steps === 0 || (batchA !== steps && batchA !== 1) || (batchB !== steps && batchB !== 1)) return stock(BatchMatMul, args);
  let m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const outShape = [...batchShape, m, n];
  // A stack of untransposed As against one B is a single taller product.
  if (batchB === 1 && !transposeA) {
    m *= batchA;
    batchA = 1;
    steps = 1;
  }
  const moved = (flipA: boolean, flipB: boolean, flipC: boolean) => (flipA ? m * k : 0) + (flipB ? k * n : 0) + (flipC ? m * n : 0);
  const swap = moved(!transposeA, !transposeB, true) < moved(transposeA, transposeB, false);
  const fa: Factor = { src: a, count: batchA, rows: transposeA ? k : m, cols: transposeA ? m : k, flip: transposeA !== swap };
  const fb: Factor = { src: b, count: batchB, rows: transposeB ? n : k, cols: transposeB ? k : n, flip: transposeB !== swap };
  const [fl, fr] = swap ? [fb, fa] : [fa, fb];
  // A factor shared by every step is prepared once.
  const fixedL = fl.count === 1 ? factorMatrix(backend, fl, 0) : null;
  const fixedR = fr.count === 1 ? factorMatrix(backend, fr, 0) : null;
  let out: TensorInfo | null = null;
  for (let i = 0; i < steps; i++) {
    const left = fixedL ?? factorMatrix(backend, fl, i);
    const right = fixedR ?? factorMatrix(backend, fr, i);
    const c = plainMatMul(backend, left.info, right.info);
    if (left !== fixedL && left.owned) free(backend, left.info);
    if (right !== fixedR && right.owned) free(backend, right.info);
    if (steps === 1 && !swap) {
      out = c;
      break;
    }
    out ??= newTensor(backend, outShape);
    const src = heap(backend, c);
    const dst = heap(backend, out);
    if (swap) transposeMatrix(src, 0, dst, i * m * n, n, m);
    else copyRun(dst, i * m * n, src, 0, m * n);
    free(backend, c);
  }
  for (const f of [fixedL, fixedR]) if (f?.owned) free(backend, f.info);
  return reshaped(out!, outShape);
});

/**
 * Mean (or sum) over a run of adjacent `axes` short of the last as one average pool whose window
 * is all R reduced rows of an O×R×K view. The stock reductions first transpose the reduced axes
 * innermost, about 150M elements/s against 2500M for an innermost sum; batch norm's moments and
 * gradient, and every bias gradient, reduce the leading (batch, row, column) axes, and batch norm
 * over stacked batches reduces the axes after the first. (A ones·X matmul is slower: XNNPACK
 * repacks X as weights on every call.)
 */
const MAX_POOL_CHANNELS = 8192;

function blockReduce(args: WasmArgs<'x', SumAttrs | MeanAttrs>, sum: boolean): TensorInfo | null {
  const { backend } = args;
  const { x } = args.inputs;
  const rank = x.shape.length;
  const axes = util.parseAxisParam(args.attrs.axis, x.shape).sort((p, q) => p - q);
  const first = axes[0];
  const end = first + axes.length;
  const adjacent = axes.every((axis, i) => axis === first + i);
  if (x.dtype !== 'float32' || axes.length === 0 || !adjacent || end === rank || util.sizeFromShape(x.shape) === 0) return null;
  const outer = util.sizeFromShape(x.shape.slice(0, first));
  const rows = util.sizeFromShape(x.shape.slice(first, end));
  const cols = util.sizeFromShape(x.shape.slice(end));
  // XNNPACK's average pool fails (out-of-bounds) past 8192 channels, so wide rows (a 16384-wide
  // FC output under batch norm) are spread over the pool's width as well.
  let channels = Math.min(cols, MAX_POOL_CHANNELS);
  while (cols % channels !== 0) channels--;
  const view = [outer, rows, cols / channels, channels];
  const out = call(backend, AvgPool, { x: reshaped(x, view) }, { filterSize: [rows, 1], strides: [1, 1], pad: 'valid' });
  if (sum) {
    const s = heap(backend, out);
    for (let i = 0; i < s.length; i++) s[i] *= rows;
  }
  const before = x.shape.slice(0, first);
  const after = x.shape.slice(end);
  return reshaped(out, args.attrs.keepDims ? [...before, ...axes.map(() => 1), ...after] : [...before, ...after]);
}

const sum = wasmKernel<'x', SumAttrs>(Sum, (args) => blockReduce(args, true) ?? stock(Sum, args));
const mean = wasmKernel<'x', MeanAttrs>(Mean, (args) => blockReduce(args, false) ?? stock(Mean, args));

// The stock Tanh calls libm per element (about 60M elements/s), five times slower than XNNPACK's
// vectorised Sigmoid; tanh(x) = 2σ(2x) − 1, with the two affine steps as plain JS loops.
const tanh = wasmKernel<'x', Record<string, never>>(Tanh, (args) => {
  const { backend } = args;
  const { x } = args.inputs;
  if (x.dtype !== 'float32') return stock(Tanh, args);
  const doubled = newTensor(backend, x.shape);
  const src = heap(backend, x);
  const d = heap(backend, doubled);
  for (let i = 0; i < d.length; i++) d[i] = 2 * src[i];
  const out = call(backend, Sigmoid, { x: doubled });
  free(backend, doubled);
  const y = heap(backend, out);
  for (let i = 0; i < y.length; i++) y[i] = 2 * y[i] - 1;
  return out;
});

// The stock LeakyRelu is a scalar loop, four times slower than Relu; XNNPACK's PReLU with every
// channel's slope set to alpha computes the same thing at Relu's speed.
const leakyRelu = wasmKernel<'x', LeakyReluAttrs>(LeakyRelu, (args) => {
  const { backend } = args;
  const { x } = args.inputs;
  if (x.shape.length === 0 || util.sizeFromShape(x.shape) === 0) return stock(LeakyRelu, args);
  const alpha = newTensor(backend, [x.shape[x.shape.length - 1]]);
  heap(backend, alpha).fill(args.attrs.alpha);
  const out = call(backend, Prelu, { x, alpha });
  free(backend, alpha);
  return out;
});

// The stock FusedBatchNorm is a scalar loop, five times slower than the XNNPACK binary kernels.
// With per-channel statistics it is (x − mean)·a + offset, a = scale/√(variance + ε), computed per
// channel in JS; subtracting the mean first keeps the precision of the stock formula.
const fusedBatchNorm = wasmKernel<'x' | 'mean' | 'variance' | 'offset' | 'scale', FusedBatchNormAttrs>(FusedBatchNorm, (args) => {
  const { backend } = args;
  const { x, mean, variance, offset, scale } = args.inputs;
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: TensorInfo | undefined) => t == null || (util.sizeFromShape(t.shape) === channels && t.shape[t.shape.length - 1] === channels);
  if (x.dtype !== 'float32' || x.shape.length === 0 || ![mean, variance, offset, scale].every(perChannel)) return stock(FusedBatchNorm, args);
  const factor = newTensor(backend, [channels]);
  const v = heap(backend, variance);
  const s = scale == null ? null : heap(backend, scale);
  const f = heap(backend, factor);
  for (let c = 0; c < channels; c++) f[c] = (s == null ? 1 : s[c]) / Math.sqrt(v[c] + args.attrs.varianceEpsilon);
  const centred = call(backend, Sub, { a: x, b: reshaped(mean, [channels]) });
  const scaled = call(backend, Multiply, { a: centred, b: factor });
  free(backend, centred, factor);
  if (offset == null) return scaled;
  const out = call(backend, Add, { a: scaled, b: reshaped(offset, [channels]) });
  free(backend, scaled);
  return out;
});

export const mathKernels: KernelConfig[] = [batchMatMul, sum, mean, tanh, leakyRelu, fusedBatchNorm];
