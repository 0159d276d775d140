/**
 * A matrix product of our own for the webgpu backend, and convs (forward, filter gradient) as that
 * product over the patch matrix, read straight from x: 256 threads share a 128x128 tile, 8x8
 * outputs each, read as vectors of 4, so 4 FMAs per value read from workgroup memory where tfjs's
 * 32x32 tiles do 2, too few to feed a GPU's FMA units (docs/webgpu.md); 64x64 and 4x4 for smaller
 * products, the loop unrolled in the generated source. Where products are small or thin, tfjs's
 * kernels stay.
 */
import { backend_util, BatchMatMul, Conv2D, Conv2DBackpropFilter, type BatchMatMulAttrs, type Conv2DAttrs, type Conv2DBackpropFilterAttrs, type KernelBackend, type TensorInfo } from '@tensorflow/tfjs';
import { callKernel, free, replaceKernel } from '../kernel-util.ts';
import { chunkRows } from './split-k-filter-gradient.ts';
import { runProgram, type Uniform } from './program.ts';

/** The depth of a tile: each pass over the tiles of a product loads [tile, DEPTH] of A and [DEPTH, tile] of B. */
const DEPTH = 8;
const THREADS = 256;

// The conv geometry `patches` mode reads x by, after GEMM_UNIFORMS.
const GEMM_UNIFORMS = 'm : i32, n : i32, k : i32, aBatch : i32, bBatch : i32,';
const CONV_UNIFORMS = 'inHeight : i32, inWidth : i32, inChannels : i32, outWidth : i32, outArea : i32, filterWidth : i32, strideHeight : i32, strideWidth : i32, padTop : i32, padLeft : i32,';

class GemmProgram {
  readonly variableNames = ['A', 'B'];
  readonly uniforms: string;
  readonly workgroupSize: [number, number, number] = [THREADS, 1, 1];
  readonly outputShape: number[];
  readonly dispatchLayout = { x: [2], y: [1], z: [0] };
  readonly dispatch: [number, number, number];
  readonly shaderKey: string;
  private readonly tile: number;

  /**
   * `per`: the rows and columns of C each thread computes, 8 or 4 (tiles of 128 or 64).
   * `patches`: A is an NHWC input x, read as its conv patch matrix [n·Ho·Wo, kh·kw·ci] (im2col
   * without writing it out; CONV_UNIFORMS give the geometry).
   */
  constructor(
    batch: number,
    m: number,
    n: number,
    private readonly transposeA: boolean,
    private readonly transposeB: boolean,
    private readonly per: 4 | 8,
    private readonly patches = false,
  ) {
    this.tile = 16 * per;
    this.outputShape = [batch, m, n];
    this.dispatch = [Math.ceil(n / this.tile), Math.ceil(m / this.tile), batch];
    this.uniforms = GEMM_UNIFORMS + (patches ? CONV_UNIFORMS : '');
    this.shaderKey = `t2i_gemm_${per}_${transposeA}_${transposeB}_${patches}`;
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
    const loads = range((tile * DEPTH) / THREADS);
    const inside = 'iy >= 0 && iy < uniforms.inHeight && ix >= 0 && ix < uniforms.inWidth';
    const read = (image: string, channel: string) => `A[((${image} + iy) * uniforms.inWidth + ix) * uniforms.inChannels + ${channel}]`;
    // Forward conv, A = the patch matrix [n·Ho·Wo, kh·kw·ci]: a thread's rows (images and output
    // positions) stay the same from pass to pass and its column (a tap and channel) is the same
    // for all its rows, so each division happens once.
    const patchSetUp = loads
      .map(
        (e) => `
        let patchRow${e} = rowTile + (i32(localIndex) + ${e * THREADS}) / ${DEPTH};
        let position${e} = patchRow${e} % uniforms.outArea;
        let image${e} = patchRow${e} / uniforms.outArea * uniforms.inHeight;
        let top${e} = position${e} / uniforms.outWidth * uniforms.strideHeight - uniforms.padTop;
        let left${e} = position${e} % uniforms.outWidth * uniforms.strideWidth - uniforms.padLeft;`,
      )
      .join('');
    const loadPatches = `
          {
            let d = i32(localIndex) % ${DEPTH};
            let column = k0 + d;
            let tap = column / uniforms.inChannels;
            let channel = column % uniforms.inChannels;
            let dy = tap / uniforms.filterWidth;
            let dx = tap % uniforms.filterWidth;
            ${loads
              .map(
                (e) => `{
              let o = (i32(localIndex) + ${e * THREADS}) / ${DEPTH};
              let iy = top${e} + dy;
              let ix = left${e} + dx;
              var value = 0.0;
              if (patchRow${e} < uniforms.m && column < uniforms.k && ${inside}) {
                value = ${read(`image${e}`, 'channel')};
              }
              As[(d * ${tile} + o) / 4][o % 4] = value;
            }`,
              )
              .join('\n            ')}
          }`;
    // Filter gradient, A = the patch matrix transposed, [kh·kw·ci, rows of one chunk]: a thread's
    // row (a tap and channel, neighbouring threads on neighbouring channels) stays the same; the
    // output positions it reads move with the pass. aBatch is the chunk's first position.
    const transposedSetUp = `
        let tapRow = rowTile + i32(localIndex) % ${tile};
        let tapChannel = tapRow % uniforms.inChannels;
        let tapY = tapRow / uniforms.inChannels / uniforms.filterWidth;
        let tapX = tapRow / uniforms.inChannels % uniforms.filterWidth;`;
    const loadTransposedPatches = loads
      .map(
        (e) => `
          {
            let d = (i32(localIndex) + ${e * THREADS}) / ${tile};
            let o = i32(localIndex) % ${tile};
            let at = batch * uniforms.aBatch + k0 + d;
            let position = at % uniforms.outArea;
            let iy = position / uniforms.outWidth * uniforms.strideHeight - uniforms.padTop + tapY;
            let ix = position % uniforms.outWidth * uniforms.strideWidth - uniforms.padLeft + tapX;
            var value = 0.0;
            if (tapRow < uniforms.m && k0 + d < uniforms.k && ${inside}) {
              value = ${read('at / uniforms.outArea * uniforms.inHeight', 'tapChannel')};
            }
            As[(d * ${tile} + o) / 4][o % 4] = value;
          }`,
      )
      .join('');
    const step = (d: number) => `
        {
          ${range(vecs).map((q) => `let a${q} = As[${(d * tile) / 4 + q * 16} + ty];`).join('\n          ')}
          ${range(vecs).map((q) => `let b${q} = Bs[${(d * tile) / 4 + q * 16} + tx];`).join('\n          ')}
          ${range(per)
            .flatMap((r) => range(vecs).map((c) => `acc${r}_${c} = fma(vec4<f32>(a${Math.floor(r / 4)}[${r % 4}]), b${c}, acc${r}_${c});`))
            .join('\n          ')}
        }`;
    // A thread's rows and columns come in runs of 4, the runs 64 apart: neighbouring threads read
    // neighbouring vectors of workgroup memory, and write neighbouring vectors of C.
    const rowOf = (r: number) => Math.floor(r / 4) * 64 + (r % 4);
    const store = range(per)
      .map(
        (r) => `
      if (row0 + ${rowOf(r)} < uniforms.m) {
        let base = outBase + (row0 + ${rowOf(r)}) * uniforms.n;
        ${range(vecs)
          .flatMap((c) => range(4).map((j) => `if (col0 + ${c * 64 + j} < uniforms.n) { result[base + col0 + ${c * 64 + j}] = acc${r}_${c}[${j}]; }`))
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
        ${this.patches ? (this.transposeA ? transposedSetUp : patchSetUp) : ''}
        for (var k0 = 0; k0 < uniforms.k; k0 = k0 + ${DEPTH}) {
          ${this.patches ? (this.transposeA ? loadTransposedPatches : loadPatches) : load('As', 'A', this.transposeA, 'uniforms.m', 'rowTile', 'aOffset', 'rows')}
          ${load('Bs', 'B', this.transposeB, 'uniforms.n', 'colTile', 'bOffset', 'cols')}
          workgroupBarrier();
          ${range(DEPTH).map(step).join('')}
          workgroupBarrier();
        }
        let row0 = rowTile + ty * 4;
        let col0 = colTile + tx * 4;
        let outBase = batch * uniforms.m * uniforms.n;
        ${store}
      }
    `;
  }
}

/**
 * Where ours is expected to win: enough rows and columns to fill its tiles (64 wide at least), and
 * enough tiles to share a long sum (each tile runs all of k alone). Thin products (a conv to RGB's
 * 3 channels) and deep narrow ones (a dense layer's input gradient, 64x228 over k = 16,384, four
 * tiles) keep tfjs's kernels, which split k or use smaller tiles for them.
 */
export const worthGemm = (m: number, n: number, k: number, batch = 1) =>
  m >= 64 && n >= 64 && k >= 16 && m * n * k * batch >= 2 ** 22 && (k <= 4096 || Math.ceil(m / 64) * Math.ceil(n / 64) * batch >= 8);

const perThread = (m: number, n: number): 4 | 8 => (m >= 128 && n >= 128 ? 8 : 4);

const ints = (...values: number[]): Uniform[] => values.map((value) => ({ type: 'int32', data: [value] }));

const geometry = (info: backend_util.Conv2DInfo): Uniform[] =>
  ints(info.inHeight, info.inWidth, info.inChannels, info.outWidth, info.outHeight * info.outWidth, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left);

/** C [batch, m, n] = op(A)·op(B); A and B may be of any rank with those last two axes, a batch of 1 broadcast. */
export function gemm(backend: KernelBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const batchA = a.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batchB = b.shape.slice(0, -2).reduce((x, y) => x * y, 1);
  const batch = Math.max(batchA, batchB);
  const program = new GemmProgram(batch, m, n, transposeA, transposeB, perThread(m, n));
  return runProgram(backend, program, [a, b], ints(m, n, k, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * n));
}

/** The forward conv of NHWC x by a filter [kh·kw·ci, co] as our product over x's patch matrix, read from x as it goes: [1, n·Ho·Wo, co]. */
export function convGemm(backend: KernelBackend, x: TensorInfo, w: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const m = info.batchSize * info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const program = new GemmProgram(1, m, info.outChannels, false, false, perThread(m, info.outChannels), true);
  return runProgram(backend, program, [x, w], [...ints(m, info.outChannels, k, 0, 0), ...geometry(info)]);
}

/**
 * The conv filter gradient, x's patch matrix transposed times dy, as our product: the output
 * positions cut into chunks (split-K, as split-k-filter-gradient.ts does), each chunk's product
 * one batch of the program, the chunks then summed. [kh, kw, ci, co].
 */
export function filterGradientGemm(backend: KernelBackend, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const m = info.batchSize * info.outHeight * info.outWidth;
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const co = info.outChannels;
  const rows = chunkRows(m);
  const program = new GemmProgram(m / rows, k, co, true, false, perThread(k, co), true);
  const partial = runProgram(backend, program, [x, dy], [...ints(k, co, rows, rows, rows * co), ...geometry(info)]);
  const sum = m === rows ? partial : callKernel('webgpu', backend, 'Sum', { x: partial }, { axis: [0], keepDims: false });
  const out = callKernel('webgpu', backend, 'Reshape', { x: sum }, { shape: [info.filterHeight, info.filterWidth, info.inChannels, co] });
  free(backend, ...(sum === partial ? [partial] : [partial, sum]));
  return out;
}

/** BatchMatMul, the NHWC forward conv and its filter gradient through our product where worthGemm says so; the kernels they replace elsewhere. */
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
    if (a.dtype !== 'float32' || !batchesAgree || !worthGemm(m, n, k, sizeOf(outer))) return stock(args);
    const backend = args.backend as KernelBackend;
    const c = gemm(backend, a, b, transposeA, transposeB);
    const out = callKernel('webgpu', backend, 'Reshape', { x: c }, { shape: [...outer, m, n] });
    free(backend, c);
    return out;
  });

  replaceKernel(Conv2DBackpropFilter, 'webgpu', (args, stock) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return stock(args);
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
    const positions = info.batchSize * info.outHeight * info.outWidth;
    const rows = chunkRows(positions);
    if (!worthGemm(info.filterHeight * info.filterWidth * info.inChannels, info.outChannels, rows, positions / rows)) return stock(args);
    return filterGradientGemm(args.backend as KernelBackend, x, dy, info);
  });

  replaceKernel(Conv2D, 'webgpu', (args, stock) => {
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const { strides, pad, dataFormat, dilations, dimRoundingMode } = args.attrs as unknown as Conv2DAttrs;
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return stock(args);
    const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode);
    const { batchSize, outHeight, outWidth, outChannels, filterHeight, filterWidth, inChannels, dilationHeight, dilationWidth } = info;
    const backend = args.backend as KernelBackend;
    const k = filterHeight * filterWidth * inChannels;
    if (dilationHeight !== 1 || dilationWidth !== 1 || !worthGemm(batchSize * outHeight * outWidth, outChannels, k)) return stock(args);
    const w = callKernel('webgpu', backend, 'Reshape', { x: filter }, { shape: [k, outChannels] });
    const c = convGemm(backend, x, w, info);
    const out = callKernel('webgpu', backend, 'Reshape', { x: c }, { shape: [batchSize, outHeight, outWidth, outChannels] });
    free(backend, w, c);
    return out;
  });
}
