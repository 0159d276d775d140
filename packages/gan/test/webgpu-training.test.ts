/**
 * The webgpu backend's batch norm kernels and flat Adam, as the layers and the optimizer use them,
 * against the cpu backend on a real WebGPU adapter. CI has none, so this runs only when asked:
 * `T2I_TEST_WEBGPU=1 pnpm vitest run packages/gan/test/webgpu-training.test.ts`
 * (Mesa's lavapipe works: VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@t2i/core';
import { initBackend, tf } from '@t2i/backends';
import { Adam, batchNormTraining, ConvBn, leakyRelu, ParamStore } from '../src/index.ts';
import { recordsBatchStatistics } from './batch-norm-records.ts';

const values = (shape: number[], seed: number) => tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);

describe.runIf(process.env.T2I_TEST_WEBGPU)('webgpu kernels in training', () => {
  beforeAll(async () => {
    await initBackend('webgpu');
  });

  for (const { shape, groups, activation } of [
    { shape: [6, 5, 4, 3], groups: 1 },
    { shape: [6, 5, 4, 3], groups: 3 },
    { shape: [8, 7], groups: 2 },
    { shape: [2, 4, 4, 130], groups: 1 },
    // Columns of 4,650 and 1,550: the wider workgroup, and a last stride that is not full.
    { shape: [5, 30, 31, 7], groups: 1 },
    { shape: [6, 30, 31, 2], groups: 3 },
    // The activation after it, in the same kernels.
    { shape: [6, 5, 4, 3], groups: 1, activation: 'relu' as const },
    { shape: [6, 5, 4, 3], groups: 3, activation: 'leakyRelu' as const },
    { shape: [5, 30, 31, 7], groups: 1, activation: 'leakyRelu' as const },
  ]) {
    it(`batch norm's kernels give the cpu backend's value and gradients: [${shape}], ${groups} group(s)${activation ? `, then ${activation}` : ''}`, async () => {
      const c = shape[shape.length - 1];
      const [x, gamma, beta, weights] = [values(shape, 1).map((v) => 2 + 3 * v), values([c], 2).map((v) => 1 + 0.3 * v), values([c], 3), values(shape, 4)];
      const gammaBeta = Float32Array.of(...gamma, ...beta);
      const on = async (backend: string) => {
        await tf.setBackend(backend);
        const outputs = tf.tidy(() => {
          const args = [tf.tensor(x, shape), tf.tensor(gammaBeta, [2, c])];
          const bn = (a: tf.Tensor, b: tf.Tensor) => batchNormTraining(a, b, groups, undefined, activation);
          const f = (a: tf.Tensor, b: tf.Tensor) => bn(a, b).mul(tf.tensor(weights, shape)).sum();
          return [bn(args[0], args[1]), ...tf.grads(f)(args)];
        });
        const read = await Promise.all(outputs.map(async (t) => Float32Array.from(await t.data())));
        tf.dispose(outputs);
        return read;
      };
      const want = await on('cpu');
      const got = await on('webgpu');
      want.forEach((w, i) => {
        const scale = Math.max(1, ...w.map(Math.abs));
        expect(Math.max(...got[i].map((g, j) => Math.abs(g - w[j])))).toBeLessThan(2e-5 * scale);
      });
    });
  }

  it("batch norm's kernels record the batch statistics and leave no tensor behind", async () => {
    await tf.setBackend('webgpu');
    await recordsBatchStatistics();
  });

  it("flat Adam's kernels leave the weights and moments per-variable Adam leaves on cpu, and free what they make", async () => {
    const shapes = [[3, 5, 7], [65], [1], [4, 130]];
    const run = async (backend: string, flat: boolean) => {
      await tf.setBackend(backend);
      const before = tf.memory().numTensors;
      const vars = shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.tensor(values(shape, 40 + i), shape))));
      const opt = new Adam(0.05, 0.5, { flat });
      for (let step = 0; step < 3; step++) {
        const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.tensor(values(v.shape, 50 + 10 * step + i), v.shape)]));
        opt.applyGradients(grads);
        tf.dispose(Object.values(grads));
      }
      const slots = await opt.getWeights();
      const out = [...(await Promise.all(vars.map((v) => v.data()))), ...(await Promise.all(slots.slice(1).map((s) => s.tensor.data())))].flatMap((a) => Array.from(a));
      tf.dispose(flat ? slots.map((s) => s.tensor) : slots[0].tensor);
      opt.dispose();
      tf.dispose(vars);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const want = await run('cpu', false);
    const got = await run('webgpu', true);
    expect(got.length).toBe(want.length);
    expect(Math.max(...got.map((g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-5);
  });

  it('a training step (convs, batch norm, Adam) on webgpu leaves the weights a cpu step leaves', async () => {
    // What webgpu runs differently: the filter gradient through the shader, batch norm's kernels,
    // Adam in flat mode. The cpu step runs tfjs's filter gradient and per-variable Adam.
    const x = values([4, 16, 16, 3], 7);
    const step = async (backend: string) => {
      await tf.setBackend(backend);
      const store = new ParamStore(new Rng(5));
      const layers = [new ConvBn(store, 'a', 3, 8, 4, 2), new ConvBn(store, 'b', 8, 8, 3), new ConvBn(store, 'c', 8, 4, 4, 2)];
      const input = tf.tensor4d(x, [4, 16, 16, 3]);
      const opt = new Adam(0.01, 0.5, { flat: backend === 'webgpu' });
      for (let i = 0; i < 2; i++) {
        opt.minimize(() => layers.reduce((h, l) => leakyRelu(l.apply(h, { training: true, groups: 2 })), input).square().mean() as tf.Scalar);
      }
      const weights = await Promise.all(store.list().map(async (v) => Array.from(await v.data())));
      opt.dispose();
      store.dispose();
      input.dispose();
      return weights.flat();
    };
    const want = await step('cpu');
    const got = await step('webgpu');
    expect(got.length).toBe(want.length);
    expect(Math.max(...got.map((g, i) => Math.abs(g - want[i])))).toBeLessThan(1e-4);
  });
});
