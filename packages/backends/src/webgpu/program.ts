/**
 * A webgpu program of one thread per output element, the shape of most of our WGSL kernels:
 * `body` computes element `index` of the output (tfjs's getCoordsFromIndex turns it into
 * coordinates) and writes it with setOutputAtIndex. `uniforms` declares the program's own.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import { webgpu_util, type WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export class FlatProgram {
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly size = true;
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];

  constructor(
    readonly shaderKey: string,
    readonly variableNames: string[],
    readonly outputShape: number[],
    readonly uniforms: string,
    private readonly body: string,
  ) {
    this.dispatchLayout = webgpu_util.flatDispatchLayout(outputShape);
    this.dispatch = webgpu_util.computeDispatch(this.dispatchLayout, outputShape, this.workgroupSize);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${this.body}
        }
      }
    `;
  }
}

export type Uniform = { type: 'int32' | 'float32'; data: number[] };

/** Runs one of our programs on the webgpu backend (tfjs exports no type for a program), float32 out. */
export function runProgram(backend: unknown, program: object, inputs: TensorInfo[], uniforms: Uniform[] = []): TensorInfo {
  return (backend as WebGPUBackend).runWebGPUProgram(program as never, inputs, 'float32', uniforms as never);
}
