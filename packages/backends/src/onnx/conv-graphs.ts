/**
 * A 2-D convolution and its two gradients as ONNX graphs over tfjs's layouts (NHWC images, HWIO
 * filters), for ONNX Runtime's native CPU kernels. ONNX convolves NCHW, so each graph transposes
 * on the way in and out; the transposes run natively and threaded too.
 */
import type { backend_util } from '@tensorflow/tfjs';
import { tapReach } from '../kernel-util.ts';
import type { Graph } from './model.ts';

type Info = backend_util.Conv2DInfo;

const TO_NCHW = [0, 3, 1, 2];
const TO_NHWC = [0, 2, 3, 1];
/** [kh, kw, ci, co] -> [co, ci, kh, kw]: ONNX's Conv and ConvTranspose weights. */
const HWIO_TO_OIHW = [3, 2, 0, 1];

const pads = (info: Info, bottom = info.padInfo.bottom, right = info.padInfo.right) => [info.padInfo.top, info.padInfo.left, bottom, right];

/** y = conv(x, filter): x [n, h, w, ci], filter [kh, kw, ci, co] -> y [n, ho, wo, co]. */
export function convGraph(info: Info): Graph {
  return {
    inputs: { x: info.inShape, filter: info.filterShape },
    outputs: { y: info.outShape },
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['xc'], attrs: { perm: TO_NCHW } },
      { op: 'Transpose', inputs: ['filter'], outputs: ['w'], attrs: { perm: HWIO_TO_OIHW } },
      {
        op: 'Conv',
        inputs: ['xc', 'w'],
        outputs: ['yc'],
        attrs: { pads: pads(info), strides: [info.strideHeight, info.strideWidth], dilations: [info.dilationHeight, info.dilationWidth] },
      },
      { op: 'Transpose', inputs: ['yc'], outputs: ['y'], attrs: { perm: TO_NHWC } },
    ],
  };
}

/**
 * dx from dy [n, ho, wo, co] and filter: the transposed convolution. Its output padding gives back
 * the input rows a strided forward conv left unread at the bottom and right (always fewer than
 * the stride).
 */
export function inputGradientGraph(info: Info): Graph {
  const extra = (size: number, out: number, stride: number, effective: number, before: number, after: number) => size - (stride * (out - 1) + effective - before - after);
  const { padInfo } = info;
  return {
    inputs: { dy: info.outShape, filter: info.filterShape },
    outputs: { dx: info.inShape },
    nodes: [
      { op: 'Transpose', inputs: ['dy'], outputs: ['dyc'], attrs: { perm: TO_NCHW } },
      { op: 'Transpose', inputs: ['filter'], outputs: ['w'], attrs: { perm: HWIO_TO_OIHW } },
      {
        op: 'ConvTranspose',
        inputs: ['dyc', 'w'],
        outputs: ['dxc'],
        attrs: {
          pads: pads(info),
          strides: [info.strideHeight, info.strideWidth],
          dilations: [info.dilationHeight, info.dilationWidth],
          output_padding: [
            extra(info.inHeight, info.outHeight, info.strideHeight, info.effectiveFilterHeight, padInfo.top, padInfo.bottom),
            extra(info.inWidth, info.outWidth, info.strideWidth, info.effectiveFilterWidth, padInfo.left, padInfo.right),
          ],
        },
      },
      { op: 'Transpose', inputs: ['dxc'], outputs: ['dx'], attrs: { perm: TO_NHWC } },
    ],
  };
}

/**
 * The bottom and right padding that make the filter gradient's conv (below) come out exactly
 * kh x kw; null where it would be negative (input rows no tap reaches), which the graph does not handle.
 */
export function filterGradientPads(info: Info): [number, number] | null {
  const [bottom, right] = tapReach(info);
  return bottom < 0 || right < 0 ? null : [bottom, right];
}

/**
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n,oh,ow,co] is a
 * convolution of x with its batch and channel axes swapped ([ci, n, h, w]) by dy laid out as a
 * [co, n, ho, wo] filter dilated by the stride, giving [ci, co, kh, kw]. Undilated forward convs only.
 */
export function filterGradientGraph(info: Info): Graph {
  const [bottom, right] = filterGradientPads(info)!;
  return {
    inputs: { x: info.inShape, dy: info.outShape },
    outputs: { dw: info.filterShape },
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['xt'], attrs: { perm: [3, 0, 1, 2] } },
      { op: 'Transpose', inputs: ['dy'], outputs: ['dyt'], attrs: { perm: [3, 0, 1, 2] } },
      { op: 'Conv', inputs: ['xt', 'dyt'], outputs: ['g'], attrs: { pads: pads(info, bottom, right), strides: [1, 1], dilations: [info.strideHeight, info.strideWidth] } },
      { op: 'Transpose', inputs: ['g'], outputs: ['dw'], attrs: { perm: [2, 3, 0, 1] } },
    ],
  };
}

/**
 * The filter gradient as one matrix product: the kh·kw strided windows of the padded x, side by
 * side ([n·ho·wo, kh·kw·ci], im2col), transposed, times dy ([n·ho·wo, co]), is dW already in
 * [kh, kw, ci, co] order. Input rows no tap reaches are simply never sliced.
 */
export function filterGradientGemmGraph(info: Info): Graph {
  const { outHeight: ho, outWidth: wo, batchSize: n, outChannels: co } = info;
  const { nodes, int64s } = windowColumns(info);
  return {
    inputs: { x: info.inShape, dy: info.outShape },
    outputs: { dw: info.filterShape },
    int64s: { ...int64s, dyRows: [n * ho * wo, co], dwShape: info.filterShape },
    nodes: [
      ...nodes,
      { op: 'Reshape', inputs: ['dy', 'dyRows'], outputs: ['dy2'] },
      { op: 'Gemm', inputs: ['cols', 'dy2'], outputs: ['g'], attrs: { transA: 1 } },
      { op: 'Reshape', inputs: ['g', 'dwShape'], outputs: ['dw'] },
    ],
  };
}

/**
 * im2col over NHWC: the kh·kw windows of the graph's input x (padded as the conv pads it, strided
 * by its stride), side by side along the channels, as `cols` [n·ho·wo, kh·kw·ci]. Rows and columns that
 * no tap reaches are never sliced.
 */
function windowColumns(info: Info): { nodes: Graph['nodes']; int64s: Record<string, number[]> } {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: ho, outWidth: wo, batchSize: n, inChannels: ci } = info;
  const [bottom, right] = tapReach(info).map((p) => Math.max(0, p));
  const windows: Graph['nodes'] = [];
  const int64s: Record<string, number[]> = {
    pads: [0, info.padInfo.top, info.padInfo.left, 0, 0, bottom, right, 0],
    axes: [1, 2],
    steps: [sh, sw],
    rows: [n * ho * wo, kh * kw * ci],
  };
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      int64s[`s${a}_${b}`] = [a, b];
      int64s[`e${a}_${b}`] = [a + (ho - 1) * sh + 1, b + (wo - 1) * sw + 1];
      windows.push({ op: 'Slice', inputs: ['xp', `s${a}_${b}`, `e${a}_${b}`, 'axes', 'steps'], outputs: [`w${a}_${b}`] });
    }
  }
  const nodes: Graph['nodes'] = [
    { op: 'Pad', inputs: ['x', 'pads'], outputs: ['xp'] },
    ...windows,
    { op: 'Concat', inputs: windows.map((w) => w.outputs[0]), outputs: ['cols4'], attrs: { axis: 3 } },
    { op: 'Reshape', inputs: ['cols4', 'rows'], outputs: ['cols'] },
  ];
  return { nodes, int64s };
}

/**
 * The forward conv as one matrix product over NHWC directly (no transposes): the kh·kw strided
 * windows of the padded x side by side ([n·ho·wo, kh·kw·ci]) times the filter read as
 * [kh·kw·ci, co] gives y as [n·ho·wo, co]. Undilated convs only.
 */
export function convGemmGraph(info: Info): Graph {
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const { nodes, int64s } = windowColumns(info);
  return {
    inputs: { x: info.inShape, filter: info.filterShape },
    outputs: { y: info.outShape },
    int64s: { ...int64s, filterRows: [kh * kw * ci, co], yShape: info.outShape },
    nodes: [
      ...nodes,
      { op: 'Reshape', inputs: ['filter', 'filterRows'], outputs: ['f2'] },
      { op: 'MatMul', inputs: ['cols', 'f2'], outputs: ['y2'] },
      { op: 'Reshape', inputs: ['y2', 'yShape'], outputs: ['y'] },
    ],
  };
}
