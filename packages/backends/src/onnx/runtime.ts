/**
 * ONNX Runtime's CPU kernels (MLAS: native AVX2/AVX-512 code) for graphs of fixed shapes, run
 * synchronously, as tfjs kernels must be. onnxruntime-node is an optional dependency: its npm
 * package carries the native library, so it installs without a download, but not on every platform.
 */
import { createRequire } from 'node:module';
import { onnxModel, type Graph } from './model.ts';

interface OrtTensor {
  data: Float32Array;
}
interface NativeSession {
  loadModel(buffer: ArrayBuffer, offset: number, length: number, options: object): unknown;
  inputMetadata?: unknown[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor>, options: object): Record<string, OrtTensor>;
}
interface Ort {
  binding: { InferenceSession: new () => NativeSession };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}

let ort: Ort | null | undefined;
let loadError = '';

/**
 * The native binding, or null where onnxruntime-node is not installed or will not load. The
 * public API runs sessions asynchronously only; its binding (pinned version) runs them in place.
 */
export function onnxRuntime(): Ort | null {
  if (ort !== undefined) return ort;
  try {
    const require = createRequire(import.meta.url);
    const { binding, initOrt } = require('onnxruntime-node/dist/binding');
    initOrt();
    ort = { binding, Tensor: require('onnxruntime-node').Tensor };
  } catch (e) {
    loadError = (e as Error).message.split('\n')[0];
    ort = null;
  }
  return ort;
}

/** Why onnxRuntime() gave null. */
export const onnxRuntimeError = () => loadError;

/** The installed onnxruntime-node's version. */
export function onnxRuntimeVersion(): string {
  return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
}

/** A graph ready to run: its session and a plain buffer for each input and output. */
export class NativeGraph {
  private readonly session: NativeSession;
  readonly inputs: Record<string, Float32Array> = {};
  readonly outputs: Record<string, Float32Array> = {};
  private readonly feeds: Record<string, OrtTensor> = {};
  private readonly fetches: Record<string, OrtTensor> = {};

  constructor(graph: Graph, threads: number) {
    const runtime = onnxRuntime();
    if (runtime == null) throw new Error(`onnxruntime-node did not load: ${loadError}`);
    const bytes = onnxModel(graph);
    this.session = new runtime.binding.InferenceSession();
    this.session.loadModel(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Recording the first run's allocations to replay them made the second run the slow one too (1.6 s against 0.15 for a 64x64 filter gradient).
      enableMemPattern: false,
      // Its pool's threads would otherwise spin after each graph, taking the cores from the wasm kernels that follow.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    // Loading is synchronous when no callbacks are given; a future version that is not would show here.
    if (!this.session.inputMetadata?.length) throw new Error('onnxruntime-node loaded the graph asynchronously; this version is not supported');
    // The wasm heap is a SharedArrayBuffer, which the binding refuses: tensors go through these.
    for (const [name, shape] of Object.entries(graph.inputs)) {
      this.inputs[name] = new Float32Array(shape.reduce((a, b) => a * b, 1));
      this.feeds[name] = new runtime.Tensor('float32', this.inputs[name], shape);
    }
    for (const [name, shape] of Object.entries(graph.outputs)) {
      this.outputs[name] = new Float32Array(shape.reduce((a, b) => a * b, 1));
      this.fetches[name] = new runtime.Tensor('float32', this.outputs[name], shape);
    }
  }

  /** Runs the graph on what `inputs` hold now; the results land in `outputs`. */
  run(): void {
    this.session.run(this.feeds, this.fetches, {});
  }
}

/** One NativeGraph per distinct graph, kept for the process's life: a training step reuses the same shapes. */
export class GraphCache {
  private readonly graphs = new Map<string, NativeGraph>();

  constructor(private readonly threads: number) {}

  /** How many distinct graphs have been built. */
  get size(): number {
    return this.graphs.size;
  }

  get(key: string, build: () => Graph): NativeGraph {
    let g = this.graphs.get(key);
    if (g == null) {
      g = new NativeGraph(build(), this.threads);
      this.graphs.set(key, g);
    }
    return g;
  }
}
