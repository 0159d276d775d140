/**
 * The wasm backend's convolution and its two gradients, run by ONNX Runtime's native kernels
 * instead of XNNPACK's 128-bit wasm SIMD: the convolutions are most of a GAN step's time, and
 * native code reaches the CPU's wider vectors and fused multiply-adds. Every other kernel stays on
 * wasm; tensors are copied between the wasm heap and the native graph's buffers. NCHW (which the
 * wasm backend's own Conv2D refuses too) falls back on the kernel that was registered before.
 */
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  type Conv2DAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { replaceKernel } from '../kernel-util.ts';
import { heap, newTensor, WASM } from '../wasm/kernel-util.ts';
import { convGemmGraph, convGraph, filterGradientGemmGraph, filterGradientGraph, filterGradientPads, inputGradientGraph } from './conv-graphs.ts';
import type { Graph } from './model.ts';
import { GraphCache } from './runtime.ts';

type Shape4 = [number, number, number, number];
type Args = Parameters<KernelFunc>[0];

/** Runs the graph on the tensors' data and returns its one output as a new wasm tensor. */
function runNative(cache: GraphCache, backend: BackendWasm, key: string, build: () => Graph, inputs: Record<string, TensorInfo>, outShape: number[]): TensorInfo {
  const graph = cache.get(key, build);
  for (const [name, info] of Object.entries(inputs)) graph.inputs[name].set(heap(backend, info) as Float32Array);
  graph.run();
  const out = newTensor(backend, outShape);
  (heap(backend, out) as Float32Array).set(Object.values(graph.outputs)[0]);
  return out;
}

/**
 * From this many input channels the filter gradient runs as one matrix product (2.6-3.4x wasm at
 * StackGAN's shapes, against 2-3x as a conv); below it the product is too thin (an RGB input layer:
 * 20 GFLOP/s as a product, 34 as a conv). docs/performance.md has the table.
 */
const GEMM_MIN_CHANNELS = 16;

/**
 * Up to this many output pixels an image, the forward conv runs as one matrix product over NHWC
 * (1.2-2.3x ONNX's Conv at 8x8 and 4x4 outputs, whose im2col then transposes cost more than they save); above it as ONNX's Conv.
 */
const GEMM_MAX_PIXELS = 64;

/**
 * Below this many FLOPs a call stays on wasm: copying to and from the graph and waking ONNX
 * Runtime's threads cost more than the kernel (the sample's Stage I, ngf 16, took 155 ms a step
 * with every conv native, 116 on wasm, 121 with this floor; ngf 64 is unchanged).
 */
export const NATIVE_MIN_FLOPS = 1e8;

const flopsOf = (info: backend_util.Conv2DInfo) => 2 * info.batchSize * info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels * info.outChannels;

/** Every field that shapes the graph, as the cache's key. */
const keyOf = (kind: string, info: backend_util.Conv2DInfo) =>
  JSON.stringify([kind, info.inShape, info.filterShape, info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth, info.padInfo]);

/**
 * Puts the native convolutions in place of the wasm backend's, each graph on `threads` threads,
 * for calls of at least `minFlops`; returns their graphs.
 */
export function registerNativeConvolutions(threads: number, minFlops = NATIVE_MIN_FLOPS): GraphCache {
  const cache = new GraphCache(threads);
  const small = (info: backend_util.Conv2DInfo) => flopsOf(info) < minFlops;

  replaceKernel(Conv2D, WASM, (args: Args, previous) => {
    const { x, filter } = args.inputs as Record<'x' | 'filter', TensorInfo>;
    const attrs = args.attrs as unknown as Conv2DAttrs;
    if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32') return previous(args);
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, filter.shape as Shape4, attrs.strides, attrs.dilations, attrs.pad, attrs.dimRoundingMode);
    if (small(info)) return previous(args);
    const asProduct = info.outHeight * info.outWidth <= GEMM_MAX_PIXELS && info.dilationHeight === 1 && info.dilationWidth === 1;
    const build = asProduct ? () => convGemmGraph(info) : () => convGraph(info);
    return runNative(cache, args.backend as BackendWasm, keyOf(asProduct ? 'conv-gemm' : 'conv', info), build, { x, filter }, info.outShape);
  });

  replaceKernel(Conv2DBackpropInput, WASM, (args: Args, previous) => {
    const { dy, filter } = args.inputs as Record<'dy' | 'filter', TensorInfo>;
    const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
    if (attrs.dataFormat === 'NCHW') return previous(args);
    const info = backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    if (small(info)) return previous(args);
    return runNative(cache, args.backend as BackendWasm, keyOf('dx', info), () => inputGradientGraph(info), { dy, filter }, info.inShape);
  });

  replaceKernel(Conv2DBackpropFilter, WASM, (args: Args, previous) => {
    const { x, dy } = args.inputs as Record<'x' | 'dy', TensorInfo>;
    const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (attrs.dataFormat === 'NCHW') return previous(args);
    const info = backend_util.computeConv2DInfo(x.shape as Shape4, attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    if (small(info)) return previous(args);
    const asConv = info.inChannels < GEMM_MIN_CHANNELS && filterGradientPads(info) != null;
    const build = asConv ? () => filterGradientGraph(info) : () => filterGradientGemmGraph(info);
    return runNative(cache, args.backend as BackendWasm, keyOf(asConv ? 'dw-conv' : 'dw-gemm', info), build, { x, dy }, info.filterShape);
  });
  return cache;
}
