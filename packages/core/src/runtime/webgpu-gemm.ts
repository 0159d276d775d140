/**
 * A matrix product of our own for the webgpu backend, and the forward conv as im2col and that
 * product. tfjs's matmul gives each workgroup of 64 threads a 32x32 tile, 4x4 outputs a thread:
 * 2 FMAs per value read from workgroup memory, below what a GPU's shared memory must feed its
 * FMA units (it ran at 9-12 TFLOP/s on an H200, its conv at 13.6, of ~60). Here 256 threads
 * share a 128x128 tile, 8x8 outputs each, read as vectors of 4: 4 FMAs per value read (64x64
 * and 4x4 for smaller products), the loop unrolled in the generated source. Where the products are
 * small or thin, tfjs's kernels stay (issue 7).
 */
import { backend_util, BatchMatMul, Conv2D, type BatchMatMulAttrs, type Conv2DAttrs, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { callKernel, free, replaceKernel } from './kernel-util.ts';
import { MAX_PATCH_BYTES } from './split-k-filter-gradient.ts';
import { im2col, maxPatchBytes } from './webgpu-im2col.ts';
import { runProgram, type Uniform } from './webgpu-program.ts';

/** The depth of a tile: each pass over the tiles of a product loads [tile, DEPTH] of A and [DEPTH, tile] of B. */
const DEPTH = 8;
const THREADS = 256;

class GemmProgram {
  readonly variableNames = ['A', 'B'];
  readonly uniforms = 'm : i32, n : i32, k : i32, aBatch : i32, bBatch : i32,';
  readonly workgroupSize: [number, number, number] = [THREADS, 1, 1];
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [2], y: [1], z: [0] };
  readonly dispatch: [number, number, number];
  readonly shaderKey: string;
  private readonly tile: number;

  /** `per`: the rows and columns of C each thread computes, 8 or 4 (tiles of 128 or 64). */
  constructor(
    batch: number,
    m: number,
    n: number,
    private readonly transposeA: boolean,
    private readonly transposeB: boolean,
    private readonly per: 4 | 8,
  ) {
    this.tile = 16 * per;
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / this.tile), Math.ceil(m / this.tile), batch];
    this.shaderKey = `t2i_gemm_${per}_${transposeA}_${transposeB}`;
  }

  getUserCode(): string {
    const { tile, per } = this;
    const vecs = per / 4;
    const range = (count: number) => Array.from({ length: count }, (_, i) => i);
    // Each thread moves tile·DEPTH/THREADS values of A and of B into workgroup memory a pass, along
    // whichever axis is contiguous in memory so that neighbouring threads read neighbouring values.
    const load = (target: string, input: string, transposed: boolean, outer: string, originOuter: string, offset: string, along: 'rows' | 'cols') => {
      // A is [m, k] (k contiguous) or, transposed, [k, m]; B is [k, n] (n contiguous) or, transposed, [n, k].
      const depthContiguous = along === 'rows' ? !transposed : transposed;
      return range((tile * DEPTH) / THREADS)
        .map((e) => {
          const l = `(i32(localIndex) + ${e * THREADS})`;
          const [d, o] = depthContiguous ? [`${l} % ${DEPTH}`, `${l} / ${DEPTH}`] : [`${l} / ${tile}`, `${l} % ${tile}`];
          const index = depthContiguous ? `(${originOuter} + o${e}) * uniforms.k + k0 + d${e}` : `(k0 + d${e}) * ${outer} + ${originOuter} + o${e}`;
          return `
        {
          let d${e} = ${d};
          let o${e} = ${o};
          var value = 0.0;
          if (${originOuter} + o${e} < ${outer} && k0 + d${e} < uniforms.k) {
            value = ${input}[${offset} + ${index}];
          }
          ${target}[(d${e} * ${tile} + o${e}) / 4][o${e} % 4] = value;
        }`;
        })
        .join('');
    };
    const step = (d: number) => `
        {
          ${range(vecs).map((q) => `let a${q} = As[${(d * tile) / 4} + ty * ${vecs} + ${q}];`).join('\n          ')}
          ${range(vecs).map((q) => `let b${q} = Bs[${(d * tile) / 4} + tx * ${vecs} + ${q}];`).join('\n          ')}
          ${range(per)
            .flatMap((r) => range(vecs).map((c) => `acc${r}_${c} = fma(vec4<f32>(a${Math.floor(r / 4)}[${r % 4}]), b${c}, acc${r}_${c});`))
            .join('\n          ')}
        }`;
    const store = range(per)
      .map(
        (r) => `
      if (row0 + ${r} < uniforms.m) {
        let base = outBase + (row0 + ${r}) * uniforms.n;
        ${range(vecs)
          .flatMap((c) => range(4).map((j) => `if (col0 + ${c * 4 + j} < uniforms.n) { result[base + col0 + ${c * 4 + j}] = acc${r}_${c}[${j}]; }`))
          .join('\n        ')}
      }`,
      )
      .join('');
    return `
      var<workgroup> As : array<vec4<f32>, ${(DEPTH * tile) / 4}>;
      var<workgroup> Bs : array<vec4<f32>, ${(DEPTH * tile) / 4}>;

      fn main() {
        let tx = i32(localIndex % 16u);
        let ty = i32(localIndex / 16u);
        let batch = i32(workgroupId.z);
        let rowTile = i32(workgroupId.y) * ${tile};
        let colTile = i32(workgroupId.x) * ${tile};
        let aOffset = batch * uniforms.aBatch;
        let bOffset = batch * uniforms.bBatch;
        ${range(per)
          .flatMap((r) => range(vecs).map((c) => `var acc${r}_${c} = vec4<f32>(0.0);`))
          .join('\n        ')}
        for (var k0 = 0; k0 < uniforms.k; k0 = k0 + ${DEPTH}) {
          ${load('As', 'A', this.transposeA, 'uniforms.m', 'rowTile', 'aOffset', 'rows')}
          ${load('Bs', 'B', this.transposeB, 'uniforms.n', 'colTile', 'bOffset', 'cols')}
          workgroupBarrier();
          ${range(DEPTH).map(step).join('')}
          workgroupBarrier();
        }
        let row0 = rowTile + ty * ${per};
        let col0 = colTile + tx * ${per};
        let outBase = batch * uniforms.m * uniforms.n;
        ${store}
      }
    `;
  }
}

/**
 * Where ours is expected to win: enough rows and columns to fill its tiles. Thin products (a conv
 * to RGB's 3 channels, a dense layer over a batch of 64) keep tfjs's kernels, which split K or
 * use smaller tiles for them.
 */
export const worthGemm = (m: number, n: number, k: number) => m >= 64 && n >= 32 && k >= 16 && m * n * k >= 2 ** 22;

/** C [batch, m, n] = op(A)·op(B); A and B may be of any rank with those last two axes, a batch of 1 broadcast. */
export function gemm(backend: KernelBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  const program = new GemmProgram(batch, m, n, transposeA, transposeB, m >= 128 && n >= 128 ? 8 : 4);
  const uniforms: Uniform[] = [[m], [n], [k], [batchA === 1 ? 0 : m * k], [batchB === 1 ? 0 : k * n]].map((data) => ({ type: 'int32', data }));
  return runProgram(backend, program, [a, b], uniforms);
}

/** BatchMatMul and the NHWC forward conv through `gemm` where worthGemm says so; tfjs's kernels elsewhere. */
export function registerWebgpuGemm(): void {
  replaceKernel(BatchMatMul, 'webgpu', (args, stock) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
    const [m, k] = transposeA ? [a.shape.at(-1)!, a.shape.at(-2)!] : [a.shape.at(-2)!, a.shape.at(-1)!];
    const n = transposeB ? b.shape.at(-2)! : b.shape.at(-1)!;
    const [outerA, outerB] = [a.shape.slice(0, -2), b.shape.slice(0, -2)];
    const sizeOf = (dims: number[]) => dims.reduce((x, y) => x * y, 1);
    // Batches of 1 broadcast; other broadcasts stay tfjs's.
    const outer = sizeOf(outerA) >= sizeOf(outerB) ? outerA : outerB;
    const batchesAgree = sizeOf(outerA) === 1 || sizeOf(outerB) === 1 || outerA.join() === outerB.join();
    if (a.dtype !== 'float32' || !batchesAgree || !worthGemm(m, n, k)) return stock(args);
    const backend = args.backend as KernelBackend;
    const c = gemm(backend, a, b, transposeA, transposeB);
    const out = callKernel('webgpu', backend, 'Reshape', { x: c }, { shape: [...outer, m, n] });
    free(backend, c);
    return out;
  });

  replaceKernel(Conv2D, 'webgpu', (args, stock) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as Conv2DAttrs;
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return stock(args);
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode);
    const { batchSize, outHeight, outWidth, outChannels, filterHeight, filterWidth, inChannels, dilationHeight, dilationWidth } = info;
    const backend = args.backend as KernelBackend;
    const m = batchSize * outHeight * outWidth;
    const k = filterHeight * filterWidth * inChannels;
    const patchBytes = m * k * 4;
    if (dilationHeight !== 1 || dilationWidth !== 1 || !worthGemm(m, outChannels, k) || patchBytes > Math.min(MAX_PATCH_BYTES, maxPatchBytes(backend))) return stock(args);
    const patches = im2col(x, info, backend);
    const w = callKernel('webgpu', backend, 'Reshape', { x: filter }, { shape: [k, outChannels] });
    const c = gemm(backend, patches, w, false, false);
    const out = callKernel('webgpu', backend, 'Reshape', { x: c }, { shape: [batchSize, outHeight, outWidth, outChannels] });
    free(backend, patches, w, c);
    return out;
  });
}
