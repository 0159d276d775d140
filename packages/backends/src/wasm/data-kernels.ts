/**
 * Data-movement and scatter kernels the wasm backend lacks or runs far below its neighbours,
 * rewritten as copies on the wasm heap (or, for a gradient that is a block sum, an average pool).
 */
import {
  AvgPool,
  backend_util,
  Identity,
  ResizeNearestNeighborGrad,
  Slice,
  slice_util,
  SplitV,
  Tile,
  UnsortedSegmentSum,
  Unpack,
  util,
  type KernelConfig,
  type ResizeNearestNeighborGradAttrs,
  type SliceAttrs,
  type SplitVAttrs,
  type TensorInfo,
  type TileAttrs,
  type UnpackAttrs,
  type UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { call, copyBox, copyRun, heap, newTensor, reshaped, stock, wasmKernel, type Heap } from './kernel-util.ts';

/** A dense copy of a box of `x`; the conv kernels use it to crop as well. */
export function sliceBox(backend: BackendWasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo {
  const out = newTensor(backend, size, x.dtype);
  copyBox(heap(backend, x), x.shape, begin, size, heap(backend, out));
  return out;
}

// The stock Slice first copies the whole input out of the heap (readSync) to take a piece of it, so
// N slices of one tensor cost N whole copies: tile's gradient (a slice per repetition), split and
// unstack (the LSTM's gates and time steps) all pay that.
const slice = wasmKernel<'x', SliceAttrs>(Slice, (args) => {
  const { x } = args.inputs;
  if (x.dtype === 'string') return stock(Slice, args);
  const [begin, size] = slice_util.parseSliceParams(x, args.attrs.begin, args.attrs.size);
  return sliceBox(args.backend, x, begin, size);
});

// The stock SplitV and Unpack call the stock Slice directly, so they inherit its whole-input copy.
const splitV = wasmKernel<'x', SplitVAttrs>(SplitV, (args) => {
  const { x } = args.inputs;
  if (x.dtype === 'string') return stock(SplitV, args);
  const axis = util.parseAxisParam(args.attrs.axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x, args.attrs.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[axis] = s;
    const piece = sliceBox(args.backend, x, begin, size);
    begin[axis] += s;
    return piece;
  });
});

const unpack = wasmKernel<'value', UnpackAttrs>(Unpack, (args) => {
  const { value } = args.inputs;
  if (value.dtype === 'string') return stock(Unpack, args);
  const axis = util.parseAxisParam(args.attrs.axis, value.shape)[0];
  const size = value.shape.slice();
  size[axis] = 1;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array<number>(value.shape.length).fill(0);
  return Array.from({ length: value.shape[axis] }, (_, i) => {
    begin[axis] = i;
    return reshaped(sliceBox(args.backend, value, begin, size), outShape);
  });
});

/** Copies dst[off, off + block) onto the following block*(reps-1) elements, doubling each time. */
function repeatBlock(dst: Heap, off: number, block: number, reps: number): void {
  const total = block * reps;
  for (let filled = block; filled < total; ) {
    const n = Math.min(filled, total - filled);
    dst.copyWithin(off + filled, off, off + n);
    filled += n;
  }
}

// The stock Tile computes a source index per output element (about 25M elements/s, twenty times
// slower than a copy); batch-norm's gradient tiles per-channel vectors to the full activation.
const tile = wasmKernel<'x', TileAttrs>(Tile, (args) => {
  const { x } = args.inputs;
  if (x.dtype === 'string') return stock(Tile, args);
  const shape = x.shape.length > 0 ? x.shape : [1];
  const reps = x.shape.length > 0 ? args.attrs.reps : [1];
  const outShape = shape.map((d, i) => d * reps[i]);
  const out = newTensor(args.backend, x.shape.length > 0 ? outShape : [], x.dtype);
  if (util.sizeFromShape(outShape) === 0) return out;
  const src = heap(args.backend, x);
  const dst = heap(args.backend, out);
  const rank = shape.length;
  const inStrides = [...util.computeStrides(shape), 1];
  const outStrides = [...util.computeStrides(outShape), 1];
  // Lay down one copy of the input slab along each axis, innermost first, then repeat it in place.
  const fill = (axis: number, srcOff: number, dstOff: number): void => {
    if (axis === rank - 1) {
      copyRun(dst, dstOff, src, srcOff, shape[axis]);
    } else {
      for (let i = 0; i < shape[axis]; i++) fill(axis + 1, srcOff + i * inStrides[axis], dstOff + i * outStrides[axis]);
    }
    repeatBlock(dst, dstOff, shape[axis] * outStrides[axis], reps[axis]);
  };
  fill(0, 0, 0);
  return out;
});

// Missing from the wasm backend; it is the gradient of gather (the text encoder's embeddings).
const unsortedSegmentSum = wasmKernel<'x' | 'segmentIds', UnsortedSegmentSumAttrs>(UnsortedSegmentSum, (args) => {
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs;
  const inner = util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
  const out = newTensor(args.backend, [numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const ids = heap(args.backend, segmentIds);
  const src = heap(args.backend, x);
  const dst = heap(args.backend, out);
  dst.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i];
    // TensorFlow drops ids outside [0, numSegments) rather than failing.
    if (s < 0 || s >= numSegments) continue;
    const o = s * inner;
    const j0 = i * inner;
    for (let j = 0; j < inner; j++) dst[o + j] += src[j0 + j];
  }
  return out;
});

// The stock gradient searches a window of dy for every dx element. For a whole-number upscale
// without alignCorners each input pixel owns an fh×fw block of dy, so the gradient is that block's
// sum: an XNNPACK average pool, scaled back up.
const resizeNearestNeighborGrad = wasmKernel<'images' | 'dy', ResizeNearestNeighborGradAttrs>(ResizeNearestNeighborGrad, (args) => {
  const { images, dy } = args.inputs;
  const fh = dy.shape[1] / images.shape[1];
  const fw = dy.shape[2] / images.shape[2];
  if (args.attrs.alignCorners || !Number.isInteger(fh) || !Number.isInteger(fw) || dy.dtype !== 'float32') {
    return stock(ResizeNearestNeighborGrad, args);
  }
  const out = call(args.backend, AvgPool, { x: dy }, { filterSize: [fh, fw], strides: [fh, fw], pad: 'valid' });
  const d = heap(args.backend, out);
  const area = fh * fw;
  for (let i = 0; i < d.length; i++) d[i] *= area;
  return out;
});

// The gradient tape keeps every input a backward pass needs through Identity, and the stock
// kernel copies: each conv's weights were copied at every use (the Stage II discriminator's
// 134 MB filter three times a step), and XNNPACK packed each copy anew as a filter it had not seen.
// No kernel writes into its inputs, so the copy can share the data, as Reshape and the cpu backend do.
const identity = wasmKernel<'x', Record<string, never>>(Identity, (args) => {
  const { x } = args.inputs;
  if (x.dtype === 'string') return stock(Identity, args);
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
});

export const dataKernels: KernelConfig[] = [identity, slice, splitV, unpack, tile, unsortedSegmentSum, resizeNearestNeighborGrad];
