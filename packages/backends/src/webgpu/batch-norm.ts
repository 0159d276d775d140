/**
 * Training-mode batch norm on the webgpu backend in four WGSL kernels, two each way: with tf ops
 * (gan's layers.ts) a reduction over every axis but channels is a transpose and a reduce, and each
 * element-wise step its own dispatch, and dispatches' host time bounds a GPU step (docs/webgpu.md).
 *
 * The input is seen as [groups, n, channels]; statistics and gradient sums travel packed as
 * [groups, 2, channels] (mean and variance; Σdy·x̂ and Σdy, which summed over groups are the
 * gradient of the layer's [2, channels] γ and β as they stand), computed by one workgroup per group
 * and channel, two passes over its column for the variance (as tf.moments does, not E[x²]−E[x]²).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { webgpu_util } from '@tensorflow/tfjs-backend-webgpu';
import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_EPSILON, LEAKY_SLOPE, MOVING_AVERAGE, type Activation, type BatchNormTraining } from '../ops.ts';
import { FlatProgram, runProgram, type Uniform } from './program.ts';

const MOMENTS = 'T2iBatchNormMoments';
const NORMALISE = 'T2iBatchNormNormalise';
const GRAD_SUMS = 'T2iBatchNormGradSums';
const GRAD_INPUT = 'T2iBatchNormGradInput';

/** A power of two (the workgroup's tree sum halves it): wider for long columns. */
const columnWorkgroup = (n: number) => (n >= 4096 ? 256 : 64);

// Every kernel here takes the same uniforms: n, channels, groups·channels and ε.
const UNIFORMS = 'rows : i32, channels : i32, items : i32, epsilon : f32,';

/**
 * One workgroup per (group, channel) of x [groups, n, channels], writing [groups, 2, channels].
 * `body` gets `column(code)`, which runs code over this thread's share of the column with `i` the
 * flat index of an element, and `total(v)`, the workgroup's sum.
 */
class ColumnProgram {
  readonly uniforms = UNIFORMS;
  readonly workgroupSize: [number, number, number];
  readonly outputShape: number[];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly shaderKey: string;

  constructor(
    readonly variableNames: string[],
    [groups, n, channels]: number[],
    name: string,
    private readonly body: (column: (code: string) => string) => string,
  ) {
    this.workgroupSize = [columnWorkgroup(n), 1, 1];
    this.outputShape = [groups, 2, channels];
    this.dispatchLayout = webgpu_util.flatDispatchLayout(this.outputShape);
    this.dispatch = webgpu_util.computeDispatch({ x: [0] }, [groups * channels], [1, 1, 1]);
    this.shaderKey = `t2i_bn_${name}_${this.workgroupSize[0]}`;
  }

  getUserCode(): string {
    const size = this.workgroupSize[0];
    const column = (code: string) => `
      if (live) {
        for (var row = i32(localId.x); row < uniforms.rows; row = row + ${size}) {
          let i = first + row * uniforms.channels;
          ${code}
        }
      }`;
    return `
      var<workgroup> partial : array<f32, ${size}>;

      fn total(value : f32) -> f32 {
        partial[localId.x] = value;
        workgroupBarrier();
        for (var half = ${size / 2}u; half > 0u; half = half / 2u) {
          if (localId.x < half) {
            partial[localId.x] = partial[localId.x] + partial[localId.x + half];
          }
          workgroupBarrier();
        }
        let result = partial[0];
        workgroupBarrier();
        return result;
      }

      fn main(index : i32) {
        let item = index / ${size};
        let live = item < uniforms.items;
        let group = item / uniforms.channels;
        let channel = item % uniforms.channels;
        let first = group * uniforms.rows * uniforms.channels + channel;
        let out = group * 2 * uniforms.channels + channel;
        let n = f32(uniforms.rows);
        ${this.body(column)}
      }
    `;
  }
}

/**
 * g where y > 0 and the activation's slope times g elsewhere, as a WGSL expression: with g = y the
 * activation itself, with g an incoming gradient its gradient (ReLU's and leaky ReLU's, at y = 0
 * too, as tfjs has them). No activation: g.
 */
function gated(activation: Activation | undefined, y: string, g: string): string {
  if (activation === undefined) return g;
  const slope = activation === 'relu' ? '0.0' : `${LEAKY_SLOPE} * ${g}`;
  return `select(${slope}, ${g}, ${y} > 0.0)`;
}

const momentsBody = (column: (code: string) => string) => `
  var sum = 0.0;
  ${column('sum = sum + x[i];')}
  let mean = total(sum) / n;
  var squares = 0.0;
  ${column('let d = x[i] - mean; squares = squares + d * d;')}
  let variance = total(squares) / n;
  if (live && localId.x == 0u) {
    setOutputAtIndex(out, mean);
    setOutputAtIndex(out + uniforms.channels, variance);
  }`;

// With an activation, dy is first taken back through it, at y = γx̂ + β recomputed.
const gradSumsBody = (activation?: Activation) => (column: (code: string) => string) => `
  let mean = stats[out];
  let inv = inverseSqrt(stats[out + uniforms.channels] + uniforms.epsilon);
  // Read whether used or not: a binding the shader never reads is left out of its layout.
  let scale = gammaBeta[channel];
  let shift = gammaBeta[channel + uniforms.channels];
  var sumDy = 0.0;
  var sumDyXhat = 0.0;
  ${column(`
    let xhat = (x[i] - mean) * inv;
    let g = ${gated(activation, 'xhat * scale + shift', 'dy[i]')};
    sumDy = sumDy + g;
    sumDyXhat = sumDyXhat + g * xhat;`)}
  let a = total(sumDyXhat);
  let b = total(sumDy);
  if (live && localId.x == 0u) {
    setOutputAtIndex(out, a);
    setOutputAtIndex(out + uniforms.channels, b);
  }`;

/** One thread per element of x [groups, n, channels]: `value` of x̂, inv, γ, y = γx̂ + β, the channel and `s`, the index of its statistics. */
const elementwise = (name: string, variableNames: string[], value: string) => (shape: number[]) =>
  new FlatProgram(`t2i_bn_${name}`, variableNames, shape, UNIFORMS, `
    let channel = index % uniforms.channels;
    let s = index / (uniforms.rows * uniforms.channels) * 2 * uniforms.channels + channel;
    let inv = inverseSqrt(stats[s + uniforms.channels] + uniforms.epsilon);
    let xhat = (x[index] - stats[s]) * inv;
    let gamma = gammaBeta[channel];
    let y = xhat * gamma + gammaBeta[channel + uniforms.channels];
    setOutputAtIndex(index, ${value});`);

// dx = γ/σ · (dy − Σdy/n − x̂·Σ(dy·x̂)/n), with the sums of x's group and channel.
const gradInputValue = (activation?: Activation) =>
  `gamma * inv * (${gated(activation, 'y', 'dy[index]')} - (sums[s + uniforms.channels] + xhat * sums[s]) / f32(uniforms.rows))`;

type Program = ColumnProgram | FlatProgram;
type Attrs = { epsilon?: number; activation?: Activation };

/** A kernel of the named inputs (x among them, [groups, n, channels]) and attributes ε and the activation. */
function kernel(kernelName: string, variableNames: string[], program: (shape: number[], activation?: Activation) => Program): KernelConfig {
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const named = inputs as Record<string, TensorInfo>;
    const [groups, n, channels] = named.x.shape;
    const { epsilon = 0, activation } = attrs as Attrs;
    const uniforms: Uniform[] = [[n], [channels], [groups * channels]].map((data) => ({ type: 'int32', data }));
    uniforms.push({ type: 'float32', data: [epsilon] });
    return runProgram(backend, program(named.x.shape, activation), variableNames.map((v) => named[v]), uniforms);
  };
  return { kernelName, backendName: 'webgpu', kernelFunc };
}

const variant = (name: string, activation?: Activation) => (activation ? `${name}_${activation}` : name);

const MOMENT_INPUTS = ['x'];
// The gradient kernels take γ and β always, though β matters only where there is an activation (at y = γx̂ + β).
const GRAD_SUM_INPUTS = ['dy', 'x', 'stats', 'gammaBeta'];
const NORMALISE_INPUTS = ['x', 'stats', 'gammaBeta'];
const GRAD_INPUT_INPUTS = ['dy', 'x', 'stats', 'sums', 'gammaBeta'];

const kernels: KernelConfig[] = [
  kernel(MOMENTS, MOMENT_INPUTS, (shape) => new ColumnProgram(MOMENT_INPUTS, shape, 'moments', momentsBody)),
  kernel(GRAD_SUMS, GRAD_SUM_INPUTS, (shape, activation) => new ColumnProgram(GRAD_SUM_INPUTS, shape, variant('grad_sums', activation), gradSumsBody(activation))),
  kernel(NORMALISE, NORMALISE_INPUTS, (shape, activation) => elementwise(variant('normalise', activation), NORMALISE_INPUTS, gated(activation, 'y', 'y'))(shape)),
  kernel(GRAD_INPUT, GRAD_INPUT_INPUTS, (shape, activation) => elementwise(variant('grad_input', activation), GRAD_INPUT_INPUTS, gradInputValue(activation))(shape)),
];

const MOVE = `
  let m = uniforms.momentum;
  setOutputAtIndex(index, moving[index] * m + stats[index] * (1.0 - m));`;

const movingAverage: KernelFunc = ({ inputs, backend, attrs }) => {
  const { moving, stats } = inputs as { moving: TensorInfo; stats: TensorInfo };
  const { momentum } = attrs as { momentum: number };
  const program = new FlatProgram('t2i_bn_moving_average', ['moving', 'stats'], moving.shape, 'momentum : f32,', MOVE);
  return runProgram(backend, program, [moving, stats], [{ type: 'float32', data: [momentum] }]);
};

export function registerWebgpuBatchNorm(): void {
  for (const k of [...kernels, { kernelName: MOVING_AVERAGE, backendName: 'webgpu', kernelFunc: movingAverage }]) if (!tf.getKernel(k.kernelName, 'webgpu')) tf.registerKernel(k);
}

const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: Attrs = {}) => tf.engine().runKernel(name, inputs as never, attrs as never) as tf.Tensor;

/** layers.ts's batchNormTraining, on the kernels above. */
export const webgpuBatchNormTraining: BatchNormTraining = (x, gammaBeta, groups, record, activation) => {
  const epsilon = BATCH_NORM_EPSILON;
  const shape = x.shape;
  const channels = shape[shape.length - 1];
  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gammaBeta, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const attrs = { epsilon, ...(activation && { activation }) };
    const stacked = x.reshape([groups, -1, channels]);
    const stats = runKernel(MOMENTS, { x: stacked });
    if (record) record(tf.keep(stats.reshape([2, channels])));
    save([stacked, stats, gammaBeta]);
    return {
      value: runKernel(NORMALISE, { x: stacked, stats, gammaBeta }, attrs).reshape(shape),
      gradFunc: (dy: tf.Tensor, [stacked, stats, gammaBeta]: tf.Tensor[]) => {
        const dys = dy.reshape(stacked.shape);
        const sums = runKernel(GRAD_SUMS, { dy: dys, x: stacked, stats, gammaBeta }, attrs);
        const dx = runKernel(GRAD_INPUT, { dy: dys, x: stacked, stats, sums, gammaBeta }, attrs);
        return [dx.reshape(shape), groups === 1 ? sums.reshape([2, channels]) : sums.sum(0)];
      },
    };
  });
  return normalise(x, gammaBeta);
};
