/**
 * Makes the tfjs wasm backend able to train the StackGAN networks, and fast enough to be worth it.
 *
 * The wasm backend runs convolution and matmul forward on XNNPACK at about 30 GFLOP/s on one core,
 * but it has no Conv2DBackpropFilter (conv weight gradients throw), its Conv2DBackpropInput is a
 * naive loop (0.7 to 4 GFLOP/s), and a handful of kernels on the training path are missing or run far
 * below their neighbours (see data-kernels.ts and math-kernels.ts). Every replacement
 * is built from kernels the backend runs fast, plus plain copies on the wasm heap.
 */
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  registerKernel,
  unregisterKernel,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
// The stock kernels must be registered before we can replace them and fall back on them.
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { tapReach } from '../kernel-util.ts';
import { sliceBox, dataKernels } from './data-kernels.ts';
import { call, copyRun, free, heap, newTensor, rememberStock, stock, transposeMatrix, WASM, wasmKernel } from './kernel-util.ts';
import { mathKernels } from './math-kernels.ts';

type Shape4 = [number, number, number, number];

/** A stride-1 conv on the wasm backend with explicit [top, bottom, left, right] padding. */
function conv(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, pads: number[], dilations: [number, number] = [1, 1]): TensorInfo {
  const [t, b, l, r] = pads;
  const attrs: Conv2DAttrs = { strides: 1, pad: [[0, 0], [t, b], [l, r], [0, 0]], dataFormat: 'NHWC', dilations, dimRoundingMode: undefined };
  return call(backend, Conv2D, { x, filter }, attrs as unknown as NamedAttrMap);
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n,oh,ow,co] is itself
 * a convolution: of x with its batch and channel axes swapped (batch Ci, channels N) by dy laid out
 * as an Ho×Wo×N×Co filter dilated by the stride. Its output, Ci×KH×KW×Co, is dW with two axes
 * swapped. (Going through Conv3DBackpropFilterV2 with depth 1 instead gives wrong answers at stride 2.)
 */
const conv2DBackpropFilter = wasmKernel<'x' | 'dy', Conv2DBackpropFilterAttrs>(Conv2DBackpropFilter, ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only, like the wasm Conv2D');
  const info = backend_util.computeConv2DInfo(x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;
  // The bottom/right padding that makes the dilated conv output exactly kh×kw. Where it comes out
  // negative, the last input rows/columns are reached by no tap; drop them instead.
  const [padBottom, padRight] = tapReach(info);
  const hc = Math.min(h, h + padBottom);
  const wc = Math.min(w, w + padRight);

  const xT = newTensor(backend, [ci, hc, wc, n]);
  const dyT = newTensor(backend, [ho, wo, n, co]);
  const xs = heap(backend, x);
  const xd = heap(backend, xT);
  // Pixel-outer order keeps each pixel's N×Ci block of writes within a few cache lines.
  const plane = hc * wc * n;
  const image = h * w * ci;
  for (let y = 0; y < hc; y++) {
    for (let xx = 0; xx < wc; xx++) {
      const src = (y * w + xx) * ci;
      const dst = (y * wc + xx) * n;
      for (let c = 0; c < ci; c++) {
        const d = dst + c * plane;
        for (let b = 0; b < n; b++) xd[d + b] = xs[src + c + b * image];
      }
    }
  }
  const ds = heap(backend, dy);
  const dd = heap(backend, dyT);
  for (let p = 0; p < ho * wo; p++) {
    for (let b = 0; b < n; b++) copyRun(dd, (p * n + b) * co, ds, (b * ho * wo + p) * co, co);
  }

  const g = conv(backend, xT, dyT, [padInfo.top, Math.max(0, padBottom), padInfo.left, Math.max(0, padRight)], [sh, sw]);
  free(backend, xT, dyT);
  const out = newTensor(backend, [kh, kw, ci, co]);
  const gs = heap(backend, g);
  const od = heap(backend, out);
  for (let c = 0; c < ci; c++) {
    for (let t = 0; t < kh * kw; t++) copyRun(od, (t * ci + c) * co, gs, (c * kh * kw + t) * co, co);
  }
  free(backend, g);
  return out;
});

/**
 * Along one axis, the input positions i with (i + pad) ≡ r (mod s) form one phase: i = s·q + r − pad
 * for q in [first, first + count). Each receives dy[q − j]·f[r + s·j] for j < taps, a stride-1
 * correlation of dy with that phase's taps reversed, once dy is padded by `before`/`after` (either
 * may come out negative, meaning dy is cropped instead).
 */
interface Phase {
  r: number;
  taps: number;
  first: number;
  count: number;
  before: number;
  after: number;
}

function phase(r: number, k: number, s: number, pad: number, inSize: number, outSize: number): Phase {
  const taps = r < k ? Math.ceil((k - r) / s) : 0;
  const first = Math.ceil((pad - r) / s);
  const count = Math.max(0, Math.floor((inSize - 1 + pad - r) / s) - first + 1);
  const before = taps - 1 - first;
  return { r, taps, first, count, before, after: count - outSize - before + taps - 1 };
}

/**
 * The stock kernel loops naively (0.7 to 4 GFLOP/s). The gradient of a stride-s conv w.r.t. its input
 * splits into s×s output phases, each a dense stride-1 conv of dy with a sub-filter: no zeros are
 * inserted into dy, so no multiply is wasted. The sub-filters are gathered in JS, where the
 * reversal and the Ci/Co swap cost one pass over the filter (wasm's Reverse and StridedSlice are
 * far slower). At stride 1 the single phase is the whole answer.
 */
const conv2DBackpropInput = wasmKernel<'dy' | 'filter', Conv2DBackpropInputAttrs>(Conv2DBackpropInput, (args) => {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  if (attrs.dataFormat === 'NCHW') return stock(Conv2DBackpropInput, args);
  const info = backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: ho, outWidth: wo, outChannels: co } = info;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padInfo } = info;

  /** The phase's slice of dx as [n, ph.count, pw.count, ci], or null when no tap reaches it. */
  const phaseGradient = (ph: Phase, pw: Phase): TensorInfo | null => {
    const top = Math.max(0, -ph.before);
    const bottom = Math.min(ho, ho + ph.after);
    const left = Math.max(0, -pw.before);
    const right = Math.min(wo, wo + pw.after);
    if (ph.count === 0 || pw.count === 0 || ph.taps === 0 || pw.taps === 0 || bottom <= top || right <= left) return null;

    const sub = newTensor(backend, [ph.taps, pw.taps, co, ci]);
    const fs = heap(backend, filter);
    const sd = heap(backend, sub);
    for (let j = 0; j < ph.taps; j++) {
      const fr = ph.r + sh * (ph.taps - 1 - j);
      for (let jw = 0; jw < pw.taps; jw++) {
        const fc = pw.r + sw * (pw.taps - 1 - jw);
        transposeMatrix(fs, (fr * kw + fc) * ci * co, sd, (j * pw.taps + jw) * co * ci, ci, co);
      }
    }
    const cropped = top > 0 || bottom < ho || left > 0 || right < wo;
    const src = cropped ? sliceBox(backend, dy, [0, top, left, 0], [n, bottom - top, right - left, co]) : dy;
    const y = conv(backend, src, sub, [Math.max(0, ph.before), Math.max(0, ph.after), Math.max(0, pw.before), Math.max(0, pw.after)]);
    free(backend, sub);
    if (cropped) free(backend, src);
    return y;
  };

  let dx: TensorInfo | null = null;
  for (let rh = 0; rh < sh; rh++) {
    const ph = phase(rh, kh, sh, padInfo.top, h, ho);
    for (let rw = 0; rw < sw; rw++) {
      const pw = phase(rw, kw, sw, padInfo.left, w, wo);
      const y = phaseGradient(ph, pw);
      if (y == null) continue;
      if (sh === 1 && sw === 1) return y;
      if (dx == null) {
        dx = newTensor(backend, attrs.inputShape);
        // Phases that receive no tap (stride larger than the filter) stay zero.
        heap(backend, dx).fill(0);
      }
      const ys = heap(backend, y);
      const dd = heap(backend, dx);
      for (let b = 0; b < n; b++) {
        for (let i = 0; i < ph.count; i++) {
          const row = sh * (ph.first + i) + rh - padInfo.top;
          for (let j = 0; j < pw.count; j++) {
            const col = sw * (pw.first + j) + rw - padInfo.left;
            copyRun(dd, ((b * h + row) * w + col) * ci, ys, ((b * ph.count + i) * pw.count + j) * ci, ci);
          }
        }
      }
      free(backend, y);
    }
  }
  if (dx == null) {
    dx = newTensor(backend, attrs.inputShape);
    heap(backend, dx).fill(0);
  }
  return dx;
});

const kernels: KernelConfig[] = [conv2DBackpropFilter, conv2DBackpropInput, ...dataKernels, ...mathKernels];

/**
 * Registers the replacement kernels for the 'wasm' backend. Safe to call more than once, and
 * before or after the backend initialises.
 */
export function registerWasmTrainingKernels(): void {
  for (const config of kernels) {
    const current = getKernel(config.kernelName, WASM);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current != null) {
      rememberStock(current);
      unregisterKernel(config.kernelName, WASM);
    }
    // Ours fall back on the stock kernels, whose cwrap bindings are made in their setupFunc; the
    // engine only runs setupFuncs of registered kernels when the backend initialises.
    registerKernel({ ...config, setupFunc: current?.setupFunc });
  }
}
