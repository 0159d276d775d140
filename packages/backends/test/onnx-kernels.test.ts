import { tf } from '../src/backend.ts';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { convGemmGraph, convGraph, filterGradientGemmGraph, filterGradientGraph, filterGradientPads } from '../src/onnx/conv-graphs.ts';
import { onnxModel, type Graph } from '../src/onnx/model.ts';
import { registerNativeConvolutions } from '../src/onnx/kernels.ts';
import { NativeGraph, onnxRuntime, type GraphCache } from '../src/onnx/runtime.ts';
import { registerWasmTrainingKernels } from '../src/wasm/kernels.ts';
import { convCase, convCases, expectWasmMatchesCpu, kernel, normal, relativeError, runOn, tensor, TOLERANCE } from './kernel-cases.ts';

// onnxruntime-node is optional: where it does not install, these are skipped and wasm keeps XNNPACK's convolutions.
describe.runIf(onnxRuntime() != null)('native convolutions (ONNX Runtime) against the cpu backend', () => {
  let graphs: GraphCache;
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    await tf.ready();
    // Every call native, however small: the shapes here are tiny.
    graphs = registerNativeConvolutions(1, 0);
  });

  /** Runs `f` and expects it to have built `n` new native graphs (not fallen back on wasm). */
  async function expectNative(n: number, f: () => Promise<void>): Promise<void> {
    const before = graphs.size;
    await f();
    expect(graphs.size - before).toBe(n);
  }

  it('the model writer: a graph ONNX Runtime loads and runs (Add of two inputs)', () => {
    const add: Graph = { inputs: { a: [2, 3], b: [2, 3] }, outputs: { c: [2, 3] }, nodes: [{ op: 'Add', inputs: ['a', 'b'], outputs: ['c'] }] };
    expect(onnxModel(add).length).toBeGreaterThan(20);
    const g = new NativeGraph(add, 1);
    g.inputs.a.set([1, 2, 3, 4, 5, 6]);
    g.inputs.b.set([10, 20, 30, 40, 50, 60]);
    g.run();
    expect(Array.from(g.outputs.c)).toEqual([11, 22, 33, 44, 55, 66]);
  });

  it.each(convCases)('Conv2D $h x $w, k $k, stride $strides, pad $pad', (c) => expectNative(1, () => expectWasmMatchesCpu(convCase(c).conv)));

  it.each(convCases)('Conv2DBackpropFilter $h x $w, k $k, stride $strides, pad $pad', (c) => expectNative(1, () => expectWasmMatchesCpu(convCase(c).filterGradient)));

  it.each(convCases)('Conv2DBackpropInput $h x $w, k $k, stride $strides, pad $pad', (c) => expectNative(1, () => expectWasmMatchesCpu(convCase(c).inputGradient)));

  /** Each graph, run directly on the case's inputs, against the cpu backend's kernel. */
  async function expectGraphsMatchCpu(reference: () => tf.Tensor | tf.Tensor[], graphs: Graph[], inputs: Record<string, Float32Array>): Promise<void> {
    const [expected] = await runOn('cpu', reference);
    for (const graph of graphs) {
      const g = new NativeGraph(graph, 1);
      for (const [name, values] of Object.entries(inputs)) g.inputs[name].set(values);
      g.run();
      expect(relativeError([expected], [{ shape: expected.shape, values: Object.values(g.outputs)[0] }])).toBeLessThan(TOLERANCE);
    }
  }

  it.each(convCases)('both forward graphs (conv and matrix product) $h x $w, k $k, stride $strides, pad $pad', (c) => {
    const { info, x, filter, conv } = convCase(c);
    return expectGraphsMatchCpu(conv, [convGraph(info), convGemmGraph(info)], { x: x.values, filter: filter.values });
  });

  it.each(convCases)('both filter-gradient graphs (conv and matrix product) $h x $w, k $k, stride $strides, pad $pad', (c) => {
    const { info, x, dy, filterGradient } = convCase(c);
    // The conv form cannot crop input rows that no tap reaches; the kernel gives those to the product.
    const graphs = filterGradientPads(info) == null ? [filterGradientGemmGraph(info)] : [filterGradientGraph(info), filterGradientGemmGraph(info)];
    return expectGraphsMatchCpu(filterGradient, graphs, { x: x.values, dy: dy.values });
  });

  it('a dilated conv, and the gradients of a training-sized conv and transposed conv through tf.grads', async () => {
    const x = normal([2, 9, 7, 32]);
    const filter = normal([3, 3, 32, 48]);
    const up = normal([4, 4, 16, 48]);
    await expectWasmMatchesCpu(() => kernel('Conv2D', { x: tensor(x), filter: tensor(filter) }, { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 2 }));
    await expectWasmMatchesCpu(() =>
      tf.grads((a: tf.Tensor, f: tf.Tensor, u: tf.Tensor) => {
        const y = tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 2, 'same');
        return tf.conv2dTranspose(y, u as tf.Tensor4D, [2, 10, 8, 16], 2, 'same').square().sum();
      })([tensor(x), tensor(filter), tensor(up)]),
    );
  });
});
