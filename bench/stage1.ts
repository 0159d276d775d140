/**
 * One Stage I training step (a D update and a G update) on the chosen backend, through the real
 * training loop on synthetic data: ms/step, images/s and achieved GFLOP/s, beside the same
 * backend's 1024^3 matmul rate measured in the same run. FLOPs are counted from the shapes of
 * every Conv2D, conv gradient and matmul kernel of one step's forward and backward passes
 * (tf.profile of one step; Adam's element-wise updates add none). With --profile, the step's kernel
 * calls and where its kernel time goes. Nothing here is a test.
 * With --torch, bench/torch_stage1.py trains the same network at the same batch on as many CPU
 * threads right after ours, in the same run, and the table gives its images/s and our ratio to it.
 *   pnpm --filter bench exec tsx stage1.ts [--backend wasm] [--threads N] [--variants tiny,ngf32,ngf64,full] [--batch 16] [--steps 4] [--torch]
 */
import { computeFlags, computeOptions, intFlag, loadConfig, Rng } from '@t2i/core';
import { initBackend, tf } from '@t2i/backends';
import { Adam, flatAdamByDefault } from '@t2i/gan';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildStage1, ganBatch, ganData, Stage1Config, stage1Losses, trainStage1 } from 'stage1';
import { z } from 'zod';
import { benchFlags } from './flags.ts';
import { CONV_SHAPE, convGflops, kernelFlops, matmulGflops } from './flops.ts';

const values = benchFlags(
  'stage1.ts',
  'One Stage I training step on the chosen backend: ms/step, images/s, GFLOP/s beside the matmul rate',
  (c) =>
    computeOptions(c)
      .option('--variants <list>', 'comma list of tiny, simple (tiny with the simple G and D), ngf32, ngf64, full', 'tiny,ngf32,ngf64,full')
      .option('--batch <n>', 'batch size', '16')
      .option('--steps <n>', 'timed steps (after one epoch of warm-up)', '4')
      .option('--profile', "one step's kernel calls, dispatches, host time and where kernel time goes", false)
      .option('--torch', "PyTorch's images/s on the CPU for the same network, batch and threads (bench/torch_stage1.py), and ours over it", false)
      .option('--python <path>', 'the Python that has torch (Debian: apt-get install python3-torch)', '/usr/bin/python3'),
  z.object({ ...computeFlags, variants: z.string(), batch: intFlag(), steps: intFlag(), profile: z.boolean(), torch: z.boolean(), python: z.string() }),
);
const { name: backend, threads, conv } = await initBackend(values);
const { batch, steps } = values;
const TEXT_DIM = 256;

const variants: Record<string, Partial<Stage1Config>> = {
  tiny: {},
  simple: { generator: 'simple', discriminator: 'simple' },
  ngf32: { generator: 'complex', discriminator: 'complex', ngf: 32, ndf: 16 },
  ngf64: { generator: 'complex', discriminator: 'complex', ngf: 64, ndf: 32 },
  full: {},
};

function syntheticData(images: number) {
  const rng = new Rng(1);
  const size = 76;
  const ids = Array.from({ length: images }, (_, i) => `image_${String(i + 1).padStart(5, '0')}`);
  return ganData(
    { size, ids, classIds: Int16Array.from(ids, (_, i) => 1 + (i % 8)), splits: ids.map(() => 'train' as const), pixels: Uint8Array.from({ length: images * size * size * 3 }, () => rng.int(256)) },
    { dim: TEXT_DIM, byImage: new Map(ids.map((id) => [id, Float32Array.from({ length: 10 * TEXT_DIM }, () => rng.normal() / 16)])), reference: new Float32Array(8 * TEXT_DIM), referenceText: [] },
  );
}

async function run(config: Stage1Config, epochs: number, stepsPerEpoch: number) {
  const out = mkdtempSync(path.join(os.tmpdir(), 't2i-bench-'));
  const models = buildStage1(config, TEXT_DIM);
  try {
    await trainStage1(models, syntheticData(stepsPerEpoch * config.batchSize), { ...config, epochs, checkpointEvery: 1000 }, { outDir: out, restart: true, backend });
    return readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: number });
  } finally {
    models.store.dispose();
    rmSync(out, { recursive: true, force: true });
  }
}

/** One step's forward and backward passes and Adam's updates, synchronously (tf.profile loses kernels across awaits). */
async function profileStep(config: Stage1Config) {
  const models = buildStage1(config, TEXT_DIM);
  const data = syntheticData(config.batchSize);
  const losses = stage1Losses(models, config);
  const rng = new Rng(2);
  const batch = ganBatch(data, data.rows.slice(0, config.batchSize), 64, config.captionsPerExample, rng);
  const d = models.store.trainable('d');
  const g = models.store.trainable('g').concat(models.store.trainable('ca'));
  const flat = flatAdamByDefault();
  const [dOpt, gOpt] = [new Adam(1e-4, 0.5, { flat }), new Adam(1e-4, 0.5, { flat })];
  // Unprofiled first, so that one-time kernel set-up is not counted: on native convolutions each
  // graph's first run allocates (a step took 4.5x as long).
  const step = () => {
    const fake = losses.fakeImages(batch, rng);
    dOpt.applyGradients(tf.variableGrads(() => losses.discriminatorLoss(batch, fake, rng).total, d).grads);
    gOpt.applyGradients(tf.variableGrads(() => losses.generatorLoss(batch, { training: true }, rng).total, g).grads);
  };
  for (let i = 0; i < 3; i++) tf.tidy(step);
  await d[0].data();
  const dispatches = countDispatches();
  const profile = await tf.profile(() => tf.tidy(step));
  const gpuDispatches = dispatches.stop();
  // Host time: recording a step's kernels, not counting the wait for the GPU to run them (on wasm
  // and cpu recording is running them). webgpu submits the step at its end, not every 15
  // dispatches, so that a GPU emulated on the CPU (lavapipe) does not run beside the recording:
  // the median of 5.
  const deferral = backend === 'webgpu' ? tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') : undefined;
  if (deferral !== undefined) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 1e9);
  const hostTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    tf.tidy(step);
    hostTimes.push(performance.now() - start);
    await d[0].data();
  }
  const dawn = deferral === undefined ? undefined : dawnCallTimes(() => tf.tidy(step));
  await d[0].data();
  if (deferral !== undefined) tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', deferral);
  const hostMs = hostTimes.sort((x, y) => x - y)[2];
  tf.dispose(batch);
  dOpt.dispose();
  gOpt.dispose();
  models.store.dispose();
  return { profile, gpuDispatches, hostMs, dawn };
}

/**
 * Where recording goes inside Dawn (webgpu): each method of its device, queue, encoders,
 * pipelines and buffers timed while `record` runs, the total and the 6 dearest.
 */
function dawnCallTimes(record: () => void): string {
  const times = new Map<string, { ms: number; calls: number }>();
  const restore: (() => void)[] = [];
  for (const cls of ['GPUDevice', 'GPUQueue', 'GPUCommandEncoder', 'GPUComputePassEncoder', 'GPUComputePipeline', 'GPUBuffer']) {
    const proto = (globalThis as unknown as Record<string, { prototype: Record<string, unknown> } | undefined>)[cls]?.prototype;
    if (!proto) continue;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const original = Object.getOwnPropertyDescriptor(proto, name)?.value as ((...args: unknown[]) => unknown) | undefined;
      if (typeof original !== 'function' || name === 'constructor') continue;
      proto[name] = function (this: unknown, ...args: unknown[]) {
        const start = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          const t = times.get(name) ?? { ms: 0, calls: 0 };
          t.ms += performance.now() - start;
          t.calls++;
          times.set(name, t);
        }
      };
      restore.push(() => (proto[name] = original));
    }
  }
  const start = performance.now();
  try {
    record();
  } finally {
    for (const r of restore) r();
  }
  const wall = performance.now() - start;
  const all = [...times].sort((x, y) => y[1].ms - x[1].ms);
  const inDawn = all.reduce((n, [, t]) => n + t.ms, 0);
  return `${inDawn.toFixed(1)} of ${wall.toFixed(1)} ms in Dawn's calls: ` + all.slice(0, 6).map(([name, t]) => `${name} ${t.ms.toFixed(1)} ms (${t.calls}, ${((1000 * t.ms) / t.calls).toFixed(1)} µs each)`).join(', ');
}

/** The webgpu backend's shader dispatches from now to stop() (kernels such as Reshape make none); undefined elsewhere. */
function countDispatches(): { stop(): number | undefined } {
  const backend = tf.backend() as unknown as { recordAndSubmit?: (...args: unknown[]) => void };
  const original = backend.recordAndSubmit;
  if (!original) return { stop: () => undefined };
  let count = 0;
  backend.recordAndSubmit = (...args) => {
    count++;
    original.apply(backend, args);
  };
  return {
    stop: () => {
      backend.recordAndSubmit = original;
      return count;
    },
  };
}

/** PyTorch's images/s for the complex networks at these widths, batch and CPU threads (after its own warm-up), and its rate on one 3x3 convolution. */
function torchRun(config: Stage1Config): { images_per_s: number; conv_gflops: number } {
  const script = path.join(import.meta.dirname, 'torch_stage1.py');
  const args = [script, '--device', 'cpu', '--json', '--ngf', String(config.ngf), '--ndf', String(config.ndf), '--batch', String(config.batchSize), '--threads', String(threads ?? os.availableParallelism()), '--steps', String(Math.max(steps, 4))];
  const out = execFileSync(values.python, args, { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { images_per_s: number; conv_gflops: number };
}

const quiet = process.stderr.write.bind(process.stderr);
const mute = () => (process.stderr.write = (() => true) as typeof process.stderr.write);
const unmute = () => (process.stderr.write = quiet);

const matmul = await matmulGflops();
console.log(`backend ${backend}${threads === undefined ? '' : ` (${threads} threads)`}${conv ? `, ${conv}` : ''}; ${os.cpus()[0]?.model}; matmul 1024^3: ${matmul.toFixed(1)} GFLOP/s; batch ${batch}, ${steps} timed steps`);
console.log(`variant | G/D | ngf/ndf | GFLOP/step | ms/step | images/s | GFLOP/s | vs matmul${values.torch ? ' | PyTorch images/s | ours / PyTorch' : ''}`);
let torchConv: number | undefined;
for (const name of values.variants.split(',')) {
  const base = loadConfig(Stage1Config, 'stage1', name === 'tiny' || name === 'simple' ? 'tiny' : 'full', { ...variants[name], batchSize: batch }) as Stage1Config;
  mute();
  const { profile, gpuDispatches, hostMs, dawn } = await profileStep(base);
  const flops = profile.kernels.reduce((n, k) => n + kernelFlops(k as never), 0);
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  // The first epoch warms up (Adam slots, kernel set-up; a one-step epoch twice, to be sure of
  // native convolutions' graphs); the last is timed. The loop also folds batch
  // statistics into the moving averages, which the profiled step leaves out.
  const loopDispatches = countDispatches();
  const epochs = steps < 2 ? 3 : 2;
  const metrics = await run(base, epochs, steps);
  const loopCount = loopDispatches.stop();
  unmute();
  const ms = (metrics[epochs - 1].seconds * 1000) / steps;
  const gflops = flops / 1e9 / (ms / 1000);
  const ours = (batch * 1000) / ms;
  // The PyTorch reference builds the complex networks only.
  const reference = values.torch && base.generator === 'complex' && base.discriminator === 'complex' ? torchRun(base) : undefined;
  const torch = reference?.images_per_s;
  torchConv ??= reference?.conv_gflops;
  const versus = !values.torch ? '' : torch === undefined ? ' | - | -' : ` | ${torch.toFixed(1)} | ${(ours / torch).toFixed(2)}`;
  console.log(`${name} | ${base.generator}/${base.discriminator} | ${base.ngf}/${base.ndf} | ${(flops / 1e9).toFixed(2)} | ${ms.toFixed(0)} | ${ours.toFixed(1)} | ${gflops.toFixed(1)} | ${(gflops / matmul).toFixed(2)}${versus}`);
  if (values.profile) {
    const sum = [...byKernel.values()].reduce((x, y) => x + y, 0);
    const top = [...byKernel].sort((x, y) => y[1] - x[1]).slice(0, 16);
    console.log(`   one step, profiled (Adam ${flatAdamByDefault() ? 'flat' : 'per variable'}): ${profile.kernels.length} kernel calls${gpuDispatches === undefined ? '' : ` (${gpuDispatches} GPU dispatches, recorded in ${hostMs.toFixed(0)} ms of host time; the loop: ${Math.round(loopCount! / (2 * steps))} a step)`}, ${sum.toFixed(1)} ms of kernel time: ` + top.map(([k, t]) => `${k} ${t.toFixed(1)} ms (${((100 * t) / sum).toFixed(0)}%)`).join(', '));
    if (dawn) console.log(`   recording one step (timed around each of Dawn's calls): ${dawn}`);
  }
}
// Convolutions take most of a step (PyTorch's run on oneDNN, not its BLAS): where both run them at
// these rates, the step's ratio cannot go far above this one.
if (torchConv !== undefined) {
  const ours = await convGflops();
  const { batch: b, side, channels } = CONV_SHAPE;
  console.log(`conv 3x3 ${b}x${side}x${side}x${channels} -> ${channels}, forward, same threads: ours ${ours.toFixed(1)}, PyTorch ${torchConv.toFixed(1)} GFLOP/s, ours / PyTorch ${(ours / torchConv).toFixed(2)}`);
}
