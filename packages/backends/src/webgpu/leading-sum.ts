/**
 * Sum over a few leading axes on the webgpu backend in one pass: one thread per output element
 * adds its column. tfjs reduces only the innermost axes, so it transposes first, a copy and a
 * second dispatch each time: the split-K filter gradient's sum over its chunks, the sum over the
 * discriminator's stacked groups in batch norm's gradient, dense layers' bias gradients. Sums
 * over more than LEADING_ROWS rows (batch norm's statistics over N·H·W) keep tfjs's kernel, whose
 * workgroup per output shares a long column between threads.
 */
import { Sum, util, type SumAttrs, type TensorInfo } from '@tensorflow/tfjs';
import { replaceKernel } from '../kernel-util.ts';
import { FlatProgram, runProgram } from './program.ts';

const LEADING_ROWS = 64;

const ADD_COLUMN = `
  var total = 0.0;
  for (var row = 0; row < uniforms.rows; row = row + 1) {
    total = total + x[row * uniforms.size + index];
  }
  setOutputAtIndex(index, total);`;

export function registerWebgpuLeadingSum(): void {
  replaceKernel(Sum, 'webgpu', (args, stock) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as SumAttrs;
    const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
    const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
    if (!leading || x.dtype !== 'float32' || rows > LEADING_ROWS) return stock(args);
    const rest = x.shape.slice(axes.length);
    const shape = keepDims ? [...axes.map(() => 1), ...rest] : rest;
    const program = new FlatProgram('t2i_leading_sum', ['x'], shape, 'rows : i32,', ADD_COLUMN);
    return runProgram(args.backend, program, [x], [{ type: 'int32', data: [rows] }]);
  });
}
