/** What the kernel tests share: inputs drawn once, a run on a named backend, and the conv shapes to try. */
import { tf } from '../src/backend.ts';
import { expect } from 'vitest';
import { Rng } from '@t2i/core';

export const TOLERANCE = 1e-4;
const rng = new Rng(20240611);

/** Inputs are drawn once, outside the backends, so cpu and wasm see identical values. */
export function normal(shape: number[], scale = 1): { values: Float32Array; shape: number[] } {
  const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal());
  return { values, shape };
}
export const tensor = (v: { values: Float32Array; shape: number[] }) => tf.tensor(v.values, v.shape);

export type Outputs = tf.Tensor | tf.Tensor[];

export async function runOn(backend: string, f: () => Outputs): Promise<{ shape: number[]; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const result = list.map((t) => ({ shape: t.shape, values: Float32Array.from(t.dataSync() as ArrayLike<number>) }));
  tf.dispose(out);
  return result;
}

/** max |wasm − reference| / max |reference|, after checking the outputs' shapes agree. */
export function relativeError(reference: { shape: number[]; values: Float32Array }[], actual: { shape: number[]; values: Float32Array }[]): number {
  expect(actual.map((a) => a.shape)).toEqual(reference.map((r) => r.shape));
  let worst = 0;
  reference.forEach((r, i) => {
    let diff = 0;
    let scale = 0;
    r.values.forEach((v, j) => {
      diff = Math.max(diff, Math.abs(v - actual[i].values[j]));
      scale = Math.max(scale, Math.abs(v));
    });
    worst = Math.max(worst, diff / (scale || 1));
  });
  return worst;
}

export async function expectWasmMatchesCpu(f: () => Outputs, reference: () => Outputs = f): Promise<void> {
  const expected = await runOn('cpu', reference);
  const actual = await runOn('wasm', f);
  expect(relativeError(expected, actual)).toBeLessThan(TOLERANCE);
}

export const kernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

export type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  h: number;
  w: number;
  k: number;
  strides: number | [number, number];
  pad: Pad;
}

export const convCases: ConvCase[] = [];
for (const k of [3, 4]) for (const strides of [1, 2]) for (const pad of ['same', 'valid'] as const) convCases.push({ h: 7, w: 9, k, strides, pad });
convCases.push(
  { h: 8, w: 8, k: 4, strides: 2, pad: 'same' },
  { h: 9, w: 7, k: 3, strides: [1, 2], pad: 'same' },
  { h: 10, w: 11, k: 5, strides: 3, pad: 'same' },
  { h: 9, w: 7, k: 1, strides: 3, pad: 'valid' },
  { h: 7, w: 9, k: 3, strides: 2, pad: 1 },
  { h: 9, w: 9, k: 3, strides: 2, pad: [[0, 0], [5, 0], [0, 6], [0, 0]] },
);


type Shape4 = [number, number, number, number];

/**
 * One conv case's inputs, drawn once (x [2, h, w, 3], a k x k x 3 x 5 filter, and dy of the conv's
 * output shape), and the three conv kernels called on them.
 */
export function convCase(c: ConvCase) {
  const xShape: Shape4 = [2, c.h, c.w, 3];
  const filterShape: Shape4 = [c.k, c.k, 3, 5];
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, c.strides, 1, c.pad);
  const x = normal(xShape);
  const filter = normal(filterShape);
  const dy = normal(info.outShape);
  const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
  return {
    info,
    x,
    filter,
    dy,
    conv: () => kernel('Conv2D', { x: tensor(x), filter: tensor(filter) }, { ...attrs, dilations: 1 }),
    filterGradient: () => kernel('Conv2DBackpropFilter', { x: tensor(x), dy: tensor(dy) }, { ...attrs, filterShape }),
    inputGradient: () => kernel('Conv2DBackpropInput', { dy: tensor(dy), filter: tensor(filter) }, { ...attrs, inputShape: xShape }),
  };
}
