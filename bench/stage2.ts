/**
 * One Stage II training step on the chosen backend, through the real training loop, streaming a
 * synthetic images-304.arrow from disk: ms/step, images/s and achieved GFLOP/s, beside the same
 * backend's 1024^3 matmul rate measured in the same run. A step is the frozen Stage I's forward
 * pass (the batch's 64x64 images), a D update and a G update; FLOPs are counted from the shapes of
 * every conv, conv gradient and matmul kernel of one step (tf.profile).
 *
 * tiny runs at its config's batch; full at --full-batch (default 2). wasm's heap stops at 4 GiB and
 * never shrinks: the full networks (73M parameters, 33.5M in the discriminator's 4x4 1024->2048
 * conv alone) with Adam's moments take 0.9 GB, and a step's transients and the heap's fragmentation
 * the rest. Full trains at batch 2 (peak RSS 3.5 GiB over 40 steps); a batch that does not fit is
 * reported as failed with the RSS it reached, and ends the run: a wasm module that ran out of memory
 * cannot go on. The training run comes before the profiled pass, whose records would set its peak.
 *
 * The synthetic file has --rows rows in record batches of 64, as preprocess-images writes them, of
 * which only steps x batch are training rows, spread over every record batch: each epoch reads the
 * whole file, and the peak RSS of the run beside the file's size shows that memory stays bounded.
 * RSS is sampled by a worker thread, which keeps sampling while the main thread computes.
 * Nothing here is a test.
 *   pnpm --filter bench exec tsx stage2.ts [--backend wasm] [--variants tiny,full] [--full-batch 2] [--steps 2] [--rows 512]
 */
import { ArrowFileSink, computeFlags, computeOptions, dictionaryColumn, fixedListColumn, formatBytes, int16Column, intFlag, loadConfig, makeBatch, Rng, SPLITS, utf8Column, type Split } from '@t2i/core';
import { initBackend, tf } from '@t2i/backends';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { imagesSchema } from 'preprocess-images';
import type { CaptionVectors } from 'embeddings';
import { buildStage1, Stage1Config } from 'stage1';
import { buildStage2, IMAGE_SIZE, openStage2Data, stage1Images, stage2Losses, Stage2Config, streamedBatch, trainStage2, type LoadedStage1 } from 'stage2';
import { z } from 'zod';
import { benchFlags } from './flags.ts';
import { kernelFlops, matmulGflops } from './flops.ts';

const values = benchFlags(
  'stage2.ts',
  'One Stage II training step on the chosen backend, streaming a synthetic image file: ms/step, images/s, GFLOP/s and peak RSS',
  (c) =>
    computeOptions(c)
      .option('--variants <list>', 'comma list of tiny, full', 'tiny,full')
      .option('--full-batch <n>', "the full config's batch (wasm's 4 GiB heap holds 2)", '2')
      .option('--steps <n>', 'timed steps', '2')
      .option('--rows <n>', 'rows of the synthetic images-304.arrow', '512'),
  z.object({ ...computeFlags, variants: z.string(), fullBatch: intFlag(), steps: intFlag(), rows: intFlag() }),
);
const { name: backend, conv } = await initBackend(values);
const { steps, rows } = values;
const TEXT_DIM = 256;
const SIZE = 304;
const BATCH_ROWS = 64;
const CLASSES = 8;

/** The synthetic images-304.arrow: random pixels; `train` training rows, one every `stride` rows, their classes in turn. */
async function writeImages(file: string, train: number) {
  if (rows < train) throw new Error(`--rows ${rows} is fewer than the ${train} training rows needed`);
  const stride = Math.floor(rows / train);
  const ids = Array.from({ length: rows }, (_, i) => `image_${String(i + 1).padStart(5, '0')}`);
  const splits = ids.map((_, i): Split => (i % stride === 0 && i / stride < train ? 'train' : 'test'));
  const classIds = Int16Array.from(ids, (_, i) => 1 + (Math.floor(i / stride) % CLASSES));
  const sink = await ArrowFileSink.open(file);
  const schema = imagesSchema(SIZE, 'synthetic');
  for (let start = 0; start < rows; start += BATCH_ROWS) {
    const end = Math.min(rows, start + BATCH_ROWS);
    const pixels = randomFillSync(new Uint8Array((end - start) * SIZE * SIZE * 3));
    sink.write(makeBatch(schema, [utf8Column(ids.slice(start, end)), int16Column(classIds.slice(start, end)), dictionaryColumn(splits.slice(start, end), SPLITS), fixedListColumn(pixels, SIZE * SIZE * 3)]));
  }
  await sink.commit();
  const rng = new Rng(1);
  const trainIds = ids.filter((_, i) => splits[i] === 'train');
  return {
    dim: TEXT_DIM,
    byImage: new Map(trainIds.map((id) => [id, Float32Array.from({ length: 10 * TEXT_DIM }, () => rng.normal() / 16)])),
    // Eight reference captions, as the real ones: the checkpoint grid at the end of the run is part of its peak memory.
    reference: Float32Array.from({ length: 8 * TEXT_DIM }, () => rng.normal() / 16),
    referenceText: Array.from({ length: 8 }, () => ''),
  };
}

/**
 * One step's Stage I forward pass and both updates' forward and backward passes (no optimizer),
 * synchronously (tf.profile loses kernels across awaits): its FLOPs and wall time.
 */
async function stepPass(config: Stage2Config, stage1: LoadedStage1, file: string, vectors: CaptionVectors): Promise<{ flops: number; ms: number }> {
  const models = buildStage2(config, TEXT_DIM);
  const data = await openStage2Data(file, vectors);
  const rng = new Rng(2);
  const [step] = data.stream.startEpoch(rng, config.batchSize, config.shuffleRows);
  const base = await streamedBatch(data, step, IMAGE_SIZE, config.captionsPerExample, rng);
  const losses = stage2Losses(models, config);
  const d = models.store.trainable('d');
  const g = models.store.trainable('g').concat(models.store.trainable('ca'));
  const started = performance.now();
  const profile = await tf.profile(() =>
    tf.tidy(() => {
      const b = { ...base, lowRes: stage1Images(stage1, base.text, rng) };
      const fake = losses.fakeImages(b, rng);
      tf.dispose(tf.variableGrads(() => losses.discriminatorLoss(b, fake, rng).total, d).grads);
      tf.dispose(tf.variableGrads(() => losses.generatorLoss(b, { training: true }, rng).total, g).grads);
    }),
  );
  const ms = performance.now() - started;
  tf.dispose(base);
  await data.stream.close();
  models.store.dispose();
  return { flops: profile.kernels.reduce((n, k) => n + kernelFlops(k as never), 0), ms };
}

/** Two epochs of `steps` steps (the first warms up), with the process's RSS sampled from a worker thread. */
async function run(config: Stage2Config, stage1: LoadedStage1, file: string, vectors: CaptionVectors): Promise<{ before: number; peak: number; batchesRead: number; peakRows: number; ms?: number; failed?: string }> {
  const out = mkdtempSync(path.join(os.tmpdir(), 't2i-bench-'));
  const models = buildStage2(config, TEXT_DIM);
  const data = await openStage2Data(file, vectors);
  const peak = new BigInt64Array(new SharedArrayBuffer(8));
  const sampler = new Worker(
    `const { workerData } = require('node:worker_threads');
     const peak = new BigInt64Array(workerData);
     setInterval(() => { const rss = BigInt(process.memoryUsage.rss()); if (rss > peak[0]) peak[0] = rss; }, 20);`,
    { eval: true, workerData: peak.buffer },
  );
  const before = process.memoryUsage.rss();
  const result = () => ({ before, peak: Math.max(Number(peak[0]), process.memoryUsage.rss()), batchesRead: data.stream.batchesRead, peakRows: data.stream.peakResident });
  try {
    await trainStage2(models, stage1, data, { ...config, epochs: 2, checkpointEvery: 1000 }, { outDir: out, restart: true, backend });
    models.store.dispose();
    const metrics = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: number });
    return { ...result(), ms: (metrics[1].seconds * 1000) / steps };
  } catch (err) {
    return { ...result(), failed: (err as Error).message.split('\n')[0] };
  } finally {
    await sampler.terminate();
    await data.stream.close();
    rmSync(out, { recursive: true, force: true });
  }
}

const quiet = process.stderr.write.bind(process.stderr);
const mute = () => (process.stderr.write = (() => true) as typeof process.stderr.write);
const unmute = () => (process.stderr.write = quiet);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-bench-'));
const file = path.join(dir, 'images-304.arrow');
const matmul = await matmulGflops();
console.log(`backend ${backend}${conv ? `, ${conv}` : ''}; ${os.cpus()[0]?.model}; matmul 1024^3: ${matmul.toFixed(1)} GFLOP/s; ${steps} timed steps`);
console.log(`each variant streams a synthetic images-304.arrow of ${rows} rows (${Math.ceil(rows / BATCH_ROWS)} record batches) of which ${steps} x batch are training rows; shuffle buffer = batch`);
console.log('variant | batch | ngf/ndf | res blocks | GFLOP/step | fwd+bwd ms | loop ms/step | images/s | GFLOP/s | vs matmul | file | RSS before | peak RSS | rows held (peak) | record batches read');
console.log('(images/s and GFLOP/s from the training loop\'s step; from the fwd+bwd pass, marked *, where the loop failed)');
try {
  for (const name of values.variants.split(',')) {
    const own = loadConfig(Stage2Config, 'stage2', name) as Stage2Config;
    const batch = name === 'full' ? values.fullBatch : own.batchSize;
    const config = { ...own, batchSize: batch, shuffleRows: batch };
    const vectors = await writeImages(file, steps * batch);
    // Stage I of the same scale, untrained: only its inference cost matters here.
    const s1config = loadConfig(Stage1Config, 'stage1', name) as Stage1Config;
    const s1 = buildStage1(s1config, TEXT_DIM);
    const stage1: LoadedStage1 = { generator: s1.generator, config: s1config, textDim: TEXT_DIM, store: s1.store, epoch: 0, meta: {} };
    mute();
    // The training run first: wasm's heap never shrinks, so the profiled pass (which keeps every
    // kernel's record) would otherwise set the run's peak.
    const r = await run(config, stage1, file, vectors);
    const pass = await stepPass(config, stage1, file, vectors);
    unmute();
    const ms = r.ms ?? pass.ms;
    const mark = r.ms === undefined ? '*' : '';
    const gflops = pass.flops / 1e9 / (ms / 1000);
    console.log(
      `${name} | ${batch} | ${config.ngf}/${config.ndf} | ${config.residualBlocks} | ${(pass.flops / 1e9).toFixed(1)} | ${pass.ms.toFixed(0)} | ${r.ms?.toFixed(0) ?? 'failed'} | ${((batch * 1000) / ms).toFixed(2)}${mark} | ${gflops.toFixed(1)}${mark} | ${(gflops / matmul).toFixed(2)}${mark} | ${formatBytes(statSync(file).size)} | ${mib(r.before)} | ${mib(r.peak)} | ${r.peakRows} | ${r.batchesRead}`,
    );
    if (r.failed !== undefined) {
      console.log(`${name}: the training loop failed (${r.failed}); on wasm this is its 4 GiB heap running out`);
      break;
    }
    s1.store.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
// A training loop that failed mid-epoch leaves its progress bar's timer running.
process.exit();
