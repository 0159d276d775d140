import { tf } from '../src/backend.ts';
import '@tensorflow/tfjs-backend-wasm';
import { Rng } from '@t2i/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels } from '../src/wasm/kernels.ts';

const rng = new Rng(7);
const draw = (shape: number[]) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
const x = { values: draw([2, 6, 6, 3]), shape: [2, 6, 6, 3] };
const w = { values: draw([3, 3, 3, 4]), shape: [3, 3, 3, 4] };

type Activation = (h: tf.Tensor) => tf.Tensor;
const leaky: Activation = (h) => tf.leakyRelu(h, 0.2);
// The same function with no comparison in it: (1 + α)/2·h + (1 − α)/2·|h|.
const leakyByAbs: Activation = (h) => h.mul(0.6).add(h.abs().mul(0.4));

/**
 * A gradient penalty's shape: the squared norm of d(Σ act(conv(x, w)))/dx, and its gradient with
 * respect to w, which differentiates the backward pass of the conv and the activation.
 */
async function penaltyGradient(backend: string, act: Activation): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const filter = tf.tensor4d(w.values, w.shape as [number, number, number, number]);
    const input = tf.tensor4d(x.values, x.shape as [number, number, number, number]);
    const penalty = (f: tf.Tensor) => tf.grad((xx: tf.Tensor) => act(tf.conv2d(xx as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')).square().sum())(input).square().sum();
    return tf.grad(penalty)(filter).dataSync() as Float32Array;
  });
}

const maxRelative = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / Math.max(...b.map(Math.abs));

describe('second derivatives (a WGAN-GP gradient penalty through a critic)', () => {
  beforeAll(async () => {
    registerWasmTrainingKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it("pass through leaky ReLU's gradient, whose comparison tfjs leaves without one, to the value of the comparison-free formula", async () => {
    const want = await penaltyGradient('cpu', leakyByAbs);
    expect(maxRelative(await penaltyGradient('cpu', leaky), want)).toBeLessThan(1e-5);
    expect(want.some((v) => v !== 0)).toBe(true);
  });

  it('on wasm (its own conv input and filter gradients, leaky ReLU) give the cpu backend\'s', async () => {
    for (const act of [leaky, tf.relu as Activation]) expect(maxRelative(await penaltyGradient('wasm', act), await penaltyGradient('cpu', act))).toBeLessThan(1e-4);
  });
});
