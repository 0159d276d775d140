/**
 * On the wasm backend with the thread count given as argv[2]: the gradients of both losses with
 * respect to every variable at the initial weights, on one fixed batch, then two steps of Stage I
 * training; prints the threads the backend ran, the losses and the gradients as JSON.
 * threads.test.ts runs it at 1 and 2 threads (a process each: the wasm backend's pool is fixed
 * when it starts). Gradients, not trained weights: Adam turns a rounding-sized gradient (a bias
 * before batch norm has none in exact arithmetic) into a learning-rate-sized step of either sign.
 */
import { Rng } from '@t2i/core';
import { initBackend, tf } from '@t2i/backends';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ganBatch, ganData } from '../src/data.ts';
import { buildStage1, stage1Losses, trainStage1 } from '../src/train.ts';
import { syntheticGanData, tinyStage1 } from './fixtures.ts';

process.stderr.write = () => true;
const { threads } = await initBackend({ backend: 'wasm', threads: Number(process.argv[2]) });
const config = tinyStage1({ generator: 'complex', discriminator: 'complex', ngf: 16, ndf: 8, epochs: 1 });
const { images, vectors } = syntheticGanData();
const models = buildStage1(config, vectors.dim);
const data = ganData(images, vectors);
const losses = stage1Losses(models, config);
const batch = ganBatch(data, data.rows.slice(0, config.batchSize), 64, config.captionsPerExample, new Rng(3));
const gradients: Record<string, number[]> = {};
const lossValues: Record<string, number> = {};
tf.tidy(() => {
  const fake = losses.fakeImages(batch, new Rng(4));
  const d = tf.variableGrads(() => losses.discriminatorLoss(batch, fake, new Rng(5)).total, models.store.trainable('d'));
  const g = tf.variableGrads(() => losses.generatorLoss(batch, { training: true }, new Rng(6)).total, models.store.trainable('g').concat(models.store.trainable('ca')));
  lossValues.d = d.value.dataSync()[0];
  lossValues.g = g.value.dataSync()[0];
  for (const [name, grad] of [...Object.entries(d.grads), ...Object.entries(g.grads)]) gradients[name] = Array.from(grad.dataSync());
});
const outDir = mkdtempSync(path.join(os.tmpdir(), 't2i-threads-'));
try {
  await trainStage1(models, data, config, { outDir, restart: true, backend: tf.getBackend() });
  console.log(JSON.stringify({ threads, losses: lossValues, gradients }));
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
