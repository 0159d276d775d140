/**
 * Two steps of Stage I training on the wasm backend with the thread count given as argv[2]; prints
 * the threads the backend ran and every weight as JSON. threads.test.ts runs it at 1 and 2 threads
 * (a process each: the wasm backend's pool is fixed when it starts).
 */
import { initBackend, tf } from '@t2i/backends';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ganData } from '../src/data.ts';
import { buildStage1, trainStage1 } from '../src/train.ts';
import { syntheticGanData, tinyStage1 } from './fixtures.ts';

process.stderr.write = () => true;
const { threads } = await initBackend({ backend: 'wasm', threads: Number(process.argv[2]) });
const config = tinyStage1({ generator: 'complex', discriminator: 'complex', ngf: 16, ndf: 8, epochs: 1 });
const { images, vectors } = syntheticGanData();
const models = buildStage1(config, vectors.dim);
const outDir = mkdtempSync(path.join(os.tmpdir(), 't2i-threads-'));
try {
  await trainStage1(models, ganData(images, vectors), config, { outDir, restart: true, backend: tf.getBackend() });
  const weights = Object.fromEntries([...models.store.variables].map(([n, v]) => [n, Array.from(v.dataSync())]));
  console.log(JSON.stringify({ threads, weights }));
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
