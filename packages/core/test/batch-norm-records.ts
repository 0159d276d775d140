import { expect } from 'vitest';
import { Rng } from '../src/index.ts';
import { BatchNorm, BatchNormUpdates, ParamStore, tf } from '../src/runtime/index.ts';

/** On the current backend: a training pass records the batch statistics, the update folds them in, and no tensor is left behind. */
export async function recordsBatchStatistics(): Promise<void> {
  const layer = new BatchNorm(new ParamStore(new Rng(1)), 'bn', 3);
  const x = tf.randomNormal([4, 2, 2, 3], 5, 2, 'float32', 5);
  const updates = new BatchNormUpdates();
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const maxDiff = async (a: tf.Tensor, b: tf.Tensor) => {
    const d = tf.tidy(() => a.sub(b).abs().max());
    const [value] = await d.data();
    d.dispose();
    return value;
  };
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    tf.variableGrads(() => layer.apply(x, { training: true, updates }).square().mean() as tf.Scalar, [layer.gamma, layer.beta]);
  });
  expect(tf.memory().numTensors).toBe(before + 2);
  expect(await maxDiff(updates.pending[0].mean, mean)).toBeLessThan(1e-5);
  expect(await maxDiff(updates.pending[0].variance, variance)).toBeLessThan(1e-4);
  updates.apply();
  expect(tf.memory().numTensors).toBe(before);
  const expected = mean.mul(0.1);
  expect(await maxDiff(layer.movingMean, expected)).toBeLessThan(1e-5);
  tf.dispose([x, mean, variance, expected]);
}
