/**
 * The gradients of ReLU and leaky ReLU on the webgpu backend as one kernel each: dy where x > 0,
 * α·dy elsewhere (α = 0 for ReLU). tfjs's take a step and a multiply (ReLU) or a comparison, a
 * multiply and a select (leaky ReLU), a dispatch each; Stage I's networks run 36 of them a step.
 * Gradients are registered for every backend at once, so on the others tfjs's own still run.
 */
import { getGradient, LeakyRelu, registerGradient, registerKernel, Relu, type GradConfig, type KernelFunc, type LeakyReluAttrs, type TensorInfo } from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs';
import { FlatProgram, runProgram } from './program.ts';

const RECTIFIER_GRAD = 'T2iRectifierGrad';

const PASS_WHERE_POSITIVE = `
  let g = dy[index];
  setOutputAtIndex(index, select(uniforms.alpha * g, g, x[index] > 0.0));`;

const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
  const program = new FlatProgram('t2i_rectifier_grad', ['dy', 'x'], dy.shape, 'alpha : f32,', PASS_WHERE_POSITIVE);
  return runProgram(backend, program, [dy, x], [{ type: 'float32', data: [(attrs as { alpha: number }).alpha] }]);
};

function ours(kernelName: string, alpha: (attrs: object) => number): GradConfig {
  const stock = getGradient(kernelName);
  if (stock == null) throw new Error(`tfjs has no gradient for ${kernelName} to replace`);
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dys, saved, attrs) => {
      const dy = dys as tf.Tensor;
      if (tf.getBackend() !== 'webgpu' || dy.dtype !== 'float32') return stock.gradFunc(dys, saved, attrs);
      const [x] = saved;
      return { x: () => tf.engine().runKernel(RECTIFIER_GRAD, { dy, x }, { alpha: alpha(attrs) }) as tf.Tensor };
    },
  };
}

export function registerWebgpuRectifierGradients(): void {
  if (tf.getKernel(RECTIFIER_GRAD, 'webgpu')) return;
  registerKernel({ kernelName: RECTIFIER_GRAD, backendName: 'webgpu', kernelFunc });
  registerGradient(ours(Relu, () => 0));
  registerGradient(ours(LeakyRelu, (attrs) => (attrs as unknown as LeakyReluAttrs).alpha));
}
