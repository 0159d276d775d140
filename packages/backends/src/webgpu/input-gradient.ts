/**
 * The conv input gradient on the webgpu backend, for stride 1, as a forward conv: dx is dy
 * convolved with the filter turned 180° and its in- and out-channels swapped, padded by k−1−p
 * where the forward pass padded by p. tfjs's forward conv runs three times faster than its input
 * gradient of the same FLOPs (docs/webgpu.md), and a Stage I generator's convs are all stride 1.
 * Strided convs (the discriminator's) keep tfjs's kernel, as does NCHW.
 */
import { backend_util, Conv2DBackpropInput, type Conv2DBackpropInputAttrs, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { callKernel, free, replaceKernel } from '../kernel-util.ts';
import { FlatProgram, runProgram } from './program.ts';

/** [kh, kw, ci, co] -> [kh, kw, co, ci], each tap moved to (kh−1−row, kw−1−col). */
const TURN = `
  let c = getCoordsFromIndex(index);
  setOutputAtIndex(index, getW(uniforms.wShape[0] - 1 - c[0], uniforms.wShape[1] - 1 - c[1], c[3], c[2]));`;

function turnedFilter(backend: KernelBackend, w: TensorInfo): TensorInfo {
  const [kh, kw, ci, co] = w.shape;
  return runProgram(backend, new FlatProgram('t2i_turned_filter', ['w'], [kh, kw, co, ci], '', TURN), [w]);
}

export function registerWebgpuInputGradient(): void {
  replaceKernel(Conv2DBackpropInput, 'webgpu', (args, stock) => {
    const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
    const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false, backend_util.convertConv2DDataFormat(dataFormat));
    const { top, bottom, left, right } = info.padInfo;
    const [kh, kw] = [info.filterHeight, info.filterWidth];
    const padding = [kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right];
    if (dataFormat === 'NCHW' || info.strideHeight !== 1 || info.strideWidth !== 1 || padding.some((p) => p < 0)) return stock(args);
    const backend = args.backend as KernelBackend;
    const turned = turnedFilter(backend, filter);
    const dx = callKernel('webgpu', backend, 'Conv2D', { x: dy, filter: turned }, {
      strides: 1,
      pad: [[0, 0], padding.slice(0, 2), padding.slice(2), [0, 0]],
      dataFormat: 'NHWC',
      dilations: 1,
    });
    free(backend, turned);
    return dx;
  });
}
