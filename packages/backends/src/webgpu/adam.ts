/**
 * Flat Adam's update (gan's adam.ts) on the webgpu backend in 1 + one-per-variable kernels: both
 * moments in one pass over the flat gradient, then each variable's new weights read straight from
 * the moments at its offset, where tf ops take a dispatch for each element-wise step (docs/webgpu.md).
 */
import { registerKernel, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { ADAM_MOMENTS, ADAM_WEIGHTS } from '../ops.ts';
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram } from './program.ts';

// Output [2, n]: row 0 the first moment, row 1 the second, in adam.ts's order of operations.
const MOMENTS = `
  let n = uniforms.n;
  let j = index % n;
  let old = moments[index];
  let aim = select(g[j] * g[j], g[j], index < n);
  let keep = select(uniforms.keep2, uniforms.keep1, index < n);
  setOutputAtIndex(index, (aim - old) * keep + old);`;

const WEIGHTS = `
  let at = uniforms.offset + index;
  let step = moments[at] / (sqrt(moments[uniforms.n + at]) + uniforms.epsilon);
  setOutputAtIndex(index, step * uniforms.negLr + w[index]);`;

const moments: KernelFunc = ({ inputs, backend, attrs }) => {
  const { g, moments } = inputs as { g: TensorInfo; moments: TensorInfo };
  const { beta1, beta2 } = attrs as unknown as { beta1: number; beta2: number };
  const program = new FlatProgram('t2i_adam_moments', ['g', 'moments'], moments.shape, 'n : i32, keep1 : f32, keep2 : f32,', MOMENTS);
  return runProgram(backend, program, [g, moments], [
    { type: 'int32', data: [g.shape[0]] },
    { type: 'float32', data: [1 - beta1] },
    { type: 'float32', data: [1 - beta2] },
  ]);
};

const weights: KernelFunc = ({ inputs, backend, attrs }) => {
  const { w, moments } = inputs as { w: TensorInfo; moments: TensorInfo };
  const { offset, step, epsilon } = attrs as unknown as { offset: number; step: number; epsilon: number };
  const program = new FlatProgram('t2i_adam_weights', ['w', 'moments'], w.shape, 'offset : i32, n : i32, negLr : f32, epsilon : f32,', WEIGHTS);
  return runProgram(backend, program, [w, moments], [
    { type: 'int32', data: [offset] },
    { type: 'int32', data: [moments.shape[1]] },
    { type: 'float32', data: [-step] },
    { type: 'float32', data: [epsilon] },
  ]);
};

export function registerWebgpuAdam(): void {
  if (tf.getKernel(ADAM_MOMENTS, 'webgpu')) return;
  registerKernel({ kernelName: ADAM_MOMENTS, backendName: 'webgpu', kernelFunc: moments });
  registerKernel({ kernelName: ADAM_WEIGHTS, backendName: 'webgpu', kernelFunc: weights });
}
