/**
 * im2col in one WGSL shader for the webgpu backend's split-K filter gradient: one thread per
 * element of the patch matrix [n·Ho·Wo, kh·kw·ci], reading x where the tap lands inside it and 0 in
 * the padding. The composed version (a slice per tap and a concat) costs kh·kw + 2 kernel calls,
 * each with its own host-side overhead; this is one.
 */
import type { backend_util, KernelBackend, TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Im2col } from './split-k-filter-gradient.ts';
import { FlatProgram, runProgram, type Uniform } from './program.ts';

// Coordinates of the patch matrix [n·Ho·Wo, kh·kw·ci]: row = image and output position, column = tap and channel.
const IM2COL = `
  let coords = getCoordsFromIndex(index);
  let image = coords[0] / uniforms.outArea;
  let position = coords[0] % uniforms.outArea;
  let tap = coords[1] / uniforms.inChannels;
  let channel = coords[1] % uniforms.inChannels;
  let row = (position / uniforms.outWidth) * uniforms.strides[0] - uniforms.pads[0] + tap / uniforms.filterWidth;
  let col = (position % uniforms.outWidth) * uniforms.strides[1] - uniforms.pads[1] + tap % uniforms.filterWidth;
  var value = 0.0;
  if (row >= 0 && row < uniforms.xShape[1] && col >= 0 && col < uniforms.xShape[2]) {
    value = getX(image, row, col, channel);
  }
  setOutputAtIndex(index, value);`;
const IM2COL_UNIFORMS = 'pads : vec2<i32>, strides : vec2<i32>, outWidth : i32, outArea : i32, filterWidth : i32, inChannels : i32,';

function im2col(x: TensorInfo, info: backend_util.Conv2DInfo, backend: KernelBackend): TensorInfo {
  const { batchSize: n, outHeight: ho, outWidth: wo, filterHeight: kh, filterWidth: kw, inChannels: ci, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const program = new FlatProgram('t2i_im2col', ['x'], [n * ho * wo, kh * kw * ci], IM2COL_UNIFORMS, IM2COL);
  const uniforms = [[padInfo.top, padInfo.left], [sh, sw], [wo], [ho * wo], [kw], [ci]].map((data): Uniform => ({ type: 'int32', data }));
  return runProgram(backend, program, [x], uniforms);
}

/** The patch matrix is one storage buffer: the device's limits on both bound it. */
function maxBytes(backend: KernelBackend): number {
  const { limits } = (backend as unknown as WebGPUBackend).device;
  return Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

export const webgpuIm2col: Im2col = Object.assign(im2col, { maxBytes });
