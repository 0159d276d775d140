import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { log, UsageError } from '@t2i/core';
import { registerCpuKernelFixes } from './cpu/kernels.ts';
import { registerComparisonGradients } from './gradients.ts';
import { memoiseBindGroupLayouts } from './webgpu/dawn-layouts.ts';
import { pollDawnByTimer } from './webgpu/dawn-polling.ts';

export { tf };

// At import rather than in the cpu loader: tests and tools also switch to cpu with tf.setBackend.
registerCpuKernelFixes();
// Gradients are global to tfjs, whatever the backend: at import too.
registerComparisonGradients();

/** In the order they are tried: the fastest that loads wins. */
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Loads one backend and makes it tfjs's current one; throws with the reason when it cannot.
 * `explicit`: the user named this backend, so it loads even where a later one would be faster.
 * `threads`: how many threads a CPU backend may use; one that uses threads answers how many it runs.
 * `conv`: where the wasm backend's convolutions run; it answers where they do.
 */
export type BackendLoader = (options: { explicit: boolean; threads: number; conv?: ConvPlace }) => Promise<{ threads: number; conv?: string } | void>;

export const CONV_PLACES = ['native', 'wasm'] as const;
export type ConvPlace = (typeof CONV_PLACES)[number];

/** What a command asks of the backend: --backend (else T2I_BACKEND), --threads (else T2I_THREADS), --conv (else T2I_CONV). */
export interface BackendRequest {
  backend?: string;
  threads?: number;
  conv?: ConvPlace;
}

/** Where the wasm backend's convolutions are asked to run: --conv, else T2I_CONV, else undefined (native where it loads). */
export function requestedConv(conv?: ConvPlace, env = process.env.T2I_CONV): ConvPlace | undefined {
  if (conv !== undefined || env === undefined || env === '') return conv;
  if (!(CONV_PLACES as readonly string[]).includes(env)) throw new UsageError(`T2I_CONV is "${env}"; give ${CONV_PLACES.join(' or ')}`);
  return env as ConvPlace;
}

/** The thread count asked for: --threads, else T2I_THREADS, else every core of the machine. */
export function requestedThreads(threads?: number, env = process.env.T2I_THREADS): number {
  if (threads !== undefined) return threads;
  if (env === undefined || env === '') return os.availableParallelism();
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`T2I_THREADS is "${env}"; give a whole number of threads, 1 or more (unset: every core, ${os.availableParallelism()} here)`);
  return n;
}

const require = createRequire(import.meta.url);

async function use(name: string): Promise<void> {
  // setBackend answers false (and tfjs prints a warning) when the backend's init fails.
  if (!(await tf.setBackend(name))) throw new Error(`tfjs could not initialise the ${name} backend`);
  await tf.ready();
}

function moduleMissing(err: unknown, pkg: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
    return new Error(`${pkg} is not installed (or its native library was not built: see the README, "Backends")`);
  }
  if (/native addon/.test(e.message)) return new Error(`${pkg} is installed but its native addon was not built (see the README, "Backends")`);
  return new Error(`${pkg} failed to load: ${e.message.split('\n')[0]}`);
}

function vulkanLoaderPresent(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

/** Ours, each in place of tfjs's on webgpu: the conv filter and input gradients, training-mode batch norm, sums over leading axes, the gradients of ReLU and leaky ReLU, flat Adam's update (else tf ops), uniforms packed into shared buffers, the matrix product (and the convs through it). */
export const WEBGPU_KERNELS = ['filter-grad', 'input-grad', 'batch-norm', 'leading-sum', 'rectifier-grad', 'adam', 'uniforms', 'gemm'] as const;

/**
 * How each of WEBGPU_KERNELS takes the place of tfjs's, once the backend runs; in WEBGPU_KERNELS'
 * order, so that gemm's filter gradient wraps the split-K one for the shapes it leaves.
 */
const PUT_IN_PLACE: Record<(typeof WEBGPU_KERNELS)[number], () => Promise<void>> = {
  'filter-grad': async () => {
    const { registerSplitKFilterGradient } = await import('./webgpu/split-k-filter-gradient.ts');
    registerSplitKFilterGradient('webgpu', (await import('./webgpu/im2col.ts')).webgpuIm2col);
  },
  'input-grad': async () => (await import('./webgpu/input-gradient.ts')).registerWebgpuInputGradient(),
  'batch-norm': async () => {
    const { registerWebgpuBatchNorm, webgpuBatchNormTraining } = await import('./webgpu/batch-norm.ts');
    registerWebgpuBatchNorm();
    (await import('./ops.ts')).registerBatchNormTraining('webgpu', webgpuBatchNormTraining);
  },
  'leading-sum': async () => (await import('./webgpu/leading-sum.ts')).registerWebgpuLeadingSum(),
  'rectifier-grad': async () => (await import('./webgpu/rectifier-gradient.ts')).registerWebgpuRectifierGradients(),
  adam: async () => (await import('./webgpu/adam.ts')).registerWebgpuAdam(),
  uniforms: async () => (await import('./webgpu/uniforms.ts')).packUniforms(tf.backend() as never),
  gemm: async () => (await import('./webgpu/gemm.ts')).registerWebgpuGemm(),
};

/**
 * Which of WEBGPU_KERNELS stay tfjs's: T2I_WEBGPU_STOCK, a comma list of them or all, to measure one
 * against the other. Unset, only gemm: our matrix product is not yet measured on a GPU (lavapipe,
 * a CPU, says little), so it runs only when asked for (T2I_WEBGPU_STOCK= with nothing).
 */
export function stockWebgpuKernels(value = process.env.T2I_WEBGPU_STOCK ?? 'gemm'): Set<string> {
  const names = value === 'all' ? [...WEBGPU_KERNELS] : value.split(',').filter(Boolean);
  const unknown = names.filter((n) => !(WEBGPU_KERNELS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new UsageError(`T2I_WEBGPU_STOCK names ${unknown.join(', ')}; use all or a comma list of ${WEBGPU_KERNELS.join(', ')}`);
  return new Set(names);
}

export const LOADERS: Record<BackendName, BackendLoader> = {
  'tensorflow-gpu': async () => {
    // Needs CUDA 11.2 + cuDNN 8.1 and the package's install script (libtensorflow download).
    try {
      await import('@tensorflow/tfjs-node-gpu');
    } catch (err) {
      throw moduleMissing(err, '@tensorflow/tfjs-node-gpu');
    }
    await use('tensorflow');
  },
  tensorflow: async () => {
    try {
      await import(/* optional, not a dependency */ '@tensorflow/tfjs-node' as string);
    } catch (err) {
      throw moduleMissing(err, '@tensorflow/tfjs-node');
    }
    await use('tensorflow');
  },
  webgpu: async ({ explicit }) => {
    // On Linux, Dawn reaches the GPU through Vulkan; without a loader it only prints a warning and
    // finds no adapter, so say so directly.
    if (process.platform === 'linux' && !vulkanLoaderPresent()) throw new Error('no Vulkan loader (libvulkan.so.1; Debian package libvulkan1), so no WebGPU adapter');
    // Dawn through the `webgpu` package; tfjs-backend-webgpu looks for navigator.gpu.
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    pollDawnByTimer();
    memoiseBindGroupLayouts((globals as unknown as { GPUComputePipeline: { prototype: never } }).GPUComputePipeline.prototype);
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter (no GPU, or no Vulkan loader: libvulkan.so.1)');
    // A CPU implementation of Vulkan (Mesa's lavapipe, SwiftShader) trains several times slower
    // than wasm and with more memory.
    if (adapter.info.isFallbackAdapter && !explicit) {
      throw new Error(`the only WebGPU adapter is a software one (${adapter.info.description || adapter.info.device}), slower than wasm; --backend webgpu uses it anyway`);
    }
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
    const stock = stockWebgpuKernels();
    await use('webgpu');
    for (const name of WEBGPU_KERNELS) if (!stock.has(name)) await PUT_IN_PLACE[name]();
  },
  wasm: async ({ threads, conv }) => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
    // The threaded build (our patch lets it run under Node) caps its pool at the machine's cores.
    wasm.setThreadsCount(threads);
    const { registerWasmTrainingKernels } = await import('./wasm/kernels.ts');
    registerWasmTrainingKernels();
    await use('wasm');
    const running = wasm.getThreadsCount();
    return { threads: running, conv: await placeConvolutions(conv, running) };
  },
  cpu: async () => {
    await use('cpu');
    // The cpu backend greets Node users with advice to install tfjs-node; ours is logged below.
    (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  },
};

/**
 * Puts the wasm backend's convolutions on ONNX Runtime's native kernels unless asked not to;
 * answers where they run, for the startup log. Asked for native where it will not load: an error.
 */
async function placeConvolutions(conv: ConvPlace | undefined, threads: number): Promise<string> {
  if (conv === 'wasm') return 'convolutions on wasm (XNNPACK)';
  const { onnxRuntime, onnxRuntimeError, onnxRuntimeVersion } = await import('./onnx/runtime.ts');
  if (onnxRuntime() == null) {
    if (conv === 'native') throw new UsageError(`--conv native: onnxruntime-node did not load (${onnxRuntimeError()}); run pnpm install, or use --conv wasm`);
    return `convolutions on wasm (XNNPACK; onnxruntime-node did not load: ${onnxRuntimeError()})`;
  }
  const { registerNativeConvolutions } = await import('./onnx/kernels.ts');
  registerNativeConvolutions(threads);
  return `convolutions native (ONNX Runtime ${onnxRuntimeVersion()})`;
}

export interface BackendChoice {
  name: BackendName;
  /** The threads a CPU backend runs (wasm); absent for the others. */
  threads?: number;
  /** Where the wasm backend's convolutions run, in words; absent for the others. */
  conv?: string;
  skipped: { name: BackendName; reason: string }[];
}

/**
 * Picks the backend: the one named by --backend (else T2I_BACKEND), else the first of BACKENDS
 * that loads, with --threads (else T2I_THREADS, else every core) for the wasm backend. Logs the
 * choice, its threads and why each earlier one was skipped.
 */
export async function initBackend(request: BackendRequest | string = {}, loaders: Record<BackendName, BackendLoader> = LOADERS): Promise<BackendChoice> {
  const { backend: requested, threads: asked, conv: convAsked } = typeof request === 'string' ? { backend: request } : request;
  const wanted = requested ?? process.env.T2I_BACKEND;
  const threads = requestedThreads(asked);
  const conv = requestedConv(convAsked);
  if (wanted && !(BACKENDS as readonly string[]).includes(wanted)) {
    throw new UsageError(`unknown backend "${wanted}" (from ${requested ? '--backend' : 'T2I_BACKEND'}); choose one of ${BACKENDS.join(', ')}`);
  }
  const order = wanted ? [wanted as BackendName] : [...BACKENDS];
  const skipped: BackendChoice['skipped'] = [];
  for (const name of order) {
    try {
      const loaded = await loaders[name]({ explicit: wanted !== undefined, threads, conv });
      const running = loaded?.threads;
      const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
      log(`backend: ${name}${running === undefined ? '' : `, ${threadsLine(running, threads)}`}${loaded?.conv ? `, ${loaded.conv}` : ''}${why ? ` (skipped ${why})` : ''}`);
      return { name, threads: running, conv: loaded?.conv, skipped };
    } catch (err) {
      skipped.push({ name, reason: (err as Error).message });
    }
  }
  throw new Error(`no tfjs backend could be loaded: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}

function threadsLine(running: number, asked: number): string {
  const line = `${running} thread${running === 1 ? '' : 's'}`;
  return running < asked ? `${line} (asked for ${asked}; the machine has ${os.availableParallelism()} cores)` : line;
}

/** The wasm heap's size in bytes when wasm is the backend: it only grows, up to 4 GiB. */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
}
