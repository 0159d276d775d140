import { expect } from 'vitest';
import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { BatchNorm, BatchNormUpdates, ParamStore } from '../src/index.ts';

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
    tf.variableGrads(() => layer.apply(x, { training: true, updates }).square().mean() as tf.Scalar, [layer.gammaBeta]);
  });
  expect(tf.memory().numTensors).toBe(before + 1);
  const [recordedMean, recordedVariance] = tf.unstack(updates.pending[0].stats);
  expect(await maxDiff(recordedMean, mean)).toBeLessThan(1e-5);
  expect(await maxDiff(recordedVariance, variance)).toBeLessThan(1e-4);
  tf.dispose([recordedMean, recordedVariance]);
  updates.apply();
  expect(tf.memory().numTensors).toBe(before);
  // From zeros and ones: a tenth of the batch's mean, and 0.9 + a tenth of its variance.
  const expected = tf.stack([mean.mul(0.1), variance.mul(0.1).add(0.9)]);
  expect(await maxDiff(layer.moving, expected)).toBeLessThan(1e-5);
  tf.dispose([x, mean, variance, expected]);
}
