/**
 * Plumbing shared by the replacement wasm kernels: calling other wasm kernels, reaching tensor
 * memory on the wasm heap, and the few copy loops every replacement needs. Every intermediate a
 * replacement allocates must be released with `free` (kernel-util.ts).
 */
import { util, type DataType, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { callKernel } from '../kernel-util.ts';

export { free } from '../kernel-util.ts';

export const WASM = 'wasm';

export type Heap = Float32Array | Int32Array | Uint8Array;

export interface WasmArgs<I extends string, A> {
  inputs: Record<I, TensorInfo>;
  backend: BackendWasm;
  attrs: A;
}

type WasmKernelFunc<I extends string, A> = (args: WasmArgs<I, A>) => TensorInfo | TensorInfo[];

export function wasmKernel<I extends string, A>(kernelName: string, kernelFunc: WasmKernelFunc<I, A>): KernelConfig {
  return { kernelName, backendName: WASM, kernelFunc: kernelFunc as unknown as KernelFunc };
}

/** The kernels the wasm backend shipped with, kept when ours replace them so ours can fall back. */
const stockKernels = new Map<string, KernelConfig>();

export function rememberStock(config: KernelConfig): void {
  stockKernels.set(config.kernelName, config);
}

/** Runs the wasm backend's own kernel, for the cases a replacement does not speed up. */
export function stock<I extends string, A>(kernelName: string, args: WasmArgs<I, A>): TensorInfo | TensorInfo[] {
  const config = stockKernels.get(kernelName);
  if (config == null) throw new Error(`no stock wasm kernel '${kernelName}' was recorded`);
  return config.kernelFunc(args as unknown as Parameters<KernelFunc>[0]);
}

/** Runs whatever kernel is registered now (ours where we replaced one), returning one output. */
export function call(backend: BackendWasm, kernelName: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
  return callKernel(WASM, backend, kernelName, inputs, attrs);
}

/**
 * A live view of a tensor's memory. Any allocation on the wasm heap may grow (and so detach) it,
 * so take views only after the last `makeOutput` or kernel call they must survive.
 */
export function heap(backend: BackendWasm, info: TensorInfo): Heap {
  return backend.typedArrayFromHeap(info) as Heap;
}

/** The same data under another shape; wasm kernels read shapes from the TensorInfo they are given. */
export function reshaped(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, dtype: info.dtype, shape };
}

export function newTensor(backend: BackendWasm, shape: number[], dtype: DataType = 'float32'): TensorInfo {
  return backend.makeOutput(shape, dtype);
}

/** `subarray` + `set` costs more than a loop for a handful of elements. */
export function copyRun(dst: Heap, dstOff: number, src: Heap, srcOff: number, n: number): void {
  if (n < 16) {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i];
  } else {
    dst.set(src.subarray(srcOff, srcOff + n), dstOff);
  }
}

/**
 * dst[c * rows + r] = src[r * cols + c] for one rows×cols matrix. Tiled so both the reads and the
 * writes stay within a few cache lines.
 */
export function transposeMatrix(src: Heap, srcOff: number, dst: Heap, dstOff: number, rows: number, cols: number): void {
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(r0 + T, rows);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(c0 + T, cols);
      for (let r = r0; r < r1; r++) {
        const s = srcOff + r * cols;
        for (let c = c0; c < c1; c++) dst[dstOff + c * rows + r] = src[s + c];
      }
    }
  }
}

/**
 * Copies the box [begin, begin + size) of `src` (shaped `shape`) densely into `dst`. Trailing axes
 * the box spans whole are merged, so the copy moves the longest contiguous runs it can.
 */
export function copyBox(src: Heap, shape: number[], begin: number[], size: number[], dst: Heap): void {
  const rank = shape.length;
  if (util.sizeFromShape(size) === 0) return;
  const strides = util.computeStrides(shape);
  let inner = rank;
  while (inner > 0 && (inner === rank || size[inner] === shape[inner])) inner--;
  // Axes inner..rank-1 form one contiguous run starting at begin[inner].
  const run = rank === 0 ? 1 : size[inner] * (inner + 1 < rank ? strides[inner] : 1);
  let base = 0;
  for (let a = 0; a < rank; a++) base += begin[a] * (a < rank - 1 ? strides[a] : 1);
  const idx = new Array<number>(inner).fill(0);
  let out = 0;
  for (;;) {
    let off = base;
    for (let a = 0; a < inner; a++) off += idx[a] * strides[a];
    copyRun(dst, out, src, off, run);
    out += run;
    let a = inner - 1;
    while (a >= 0 && ++idx[a] === size[a]) idx[a--] = 0;
    if (a < 0) return;
  }
}
