import { DivergedError, log, progressBar, type Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { Adam, flatAdamByDefault } from './adam.ts';
import { checkpointToResume, disposeCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { BatchNormUpdates, type Mode } from './layers.ts';
import type { ParamStore } from './params.ts';
import { assertFinite, DIVERGED_FIX, MetricsLog, StepRunner } from './training.ts';

export interface GanSchedule {
  epochs: number;
  learningRate: number;
  /** The learning rate halves every this many epochs (StackGAN's schedule). */
  lrDecayEpochs: number;
  beta1: number;
  checkpointEvery: number;
  keepCheckpoints: number;
}

export interface Losses {
  total: tf.Scalar;
  /** Logged beside the total: the loss's terms. */
  parts: Record<string, tf.Scalar>;
}

/** `S` describes one step's batch: its rows by default; a streamed dataset may add what to read first. */
export interface GanLoop<B, S = number[]> {
  /** For messages and the progress bar: "stage1". */
  name: string;
  store: ParamStore;
  gVars: tf.Variable[];
  dVars: tf.Variable[];
  schedule: GanSchedule;
  /** Everything a checkpoint must agree with to be resumed (config, data), as a string. */
  identity: string;
  /** Data randomness: its state is checkpointed so a resumed run draws what an unbroken one would. */
  rng: Rng;
  /** One epoch's batches (a fresh shuffle each epoch). */
  epochBatches(rng: Rng): S[];
  /** Tensors of one batch; the loop disposes them after the step. A promise lets batches stream from disk. */
  batch(step: S, rng: Rng): B | Promise<B>;
  /** The generator's images for a batch, drawn before the discriminator's update and outside its gradient tape. */
  fakeImages(batch: B, rng: Rng): tf.Tensor4D;
  discriminatorLoss(batch: B, fake: tf.Tensor4D): Losses;
  generatorLoss(batch: B, mode: Mode, rng: Rng): Losses;
  checkpointDir: string;
  metrics: MetricsLog;
  restart: boolean;
  /** A wall-clock budget: the loop stops, checkpointed, after the last epoch expected to end within it. */
  minutes?: number;
  /** At every checkpoint, just before it is written (grids, exports). */
  onCheckpoint?(epoch: number): Promise<void>;
  /** What onCheckpoint writes beside the checkpoints (grids): moved aside with them when a run starts afresh. */
  outputs?: string[];
}

/** How a stage's training command runs the loop. */
export interface TrainRun {
  outDir: string;
  restart: boolean;
  backend: string;
  /** See GanLoop.minutes. */
  minutes?: number;
}

export const learningRateAt = (s: GanSchedule, epoch: number) => s.learningRate * 0.5 ** Math.floor(epoch / s.lrDecayEpochs);

const prefixed = (prefix: string, o: Record<string, tf.Tensor>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}:${k}`, v]));
const unprefixed = (prefix: string, o: Record<string, tf.Tensor>) =>
  Object.fromEntries(Object.entries(o).flatMap(([k, v]) => (k.startsWith(`${prefix}:`) ? [[k.slice(prefix.length + 1), v]] : [])));

/**
 * The GAN training loop both stages share: per step one discriminator update, then one generator
 * update (batch-norm statistics folded in after it), each inside tf.tidy with the live tensor
 * count checked; the learning rate halves on schedule; every `checkpointEvery` epochs an atomic
 * checkpoint of weights, both optimizers and the data RNG, from which a later run resumes.
 */
export async function trainGan<B extends tf.TensorContainer, S = number[]>(loop: GanLoop<B, S>): Promise<{ epoch: number; step: number }> {
  const { schedule, store } = loop;
  const flat = flatAdamByDefault();
  const gOpt = new Adam(schedule.learningRate, schedule.beta1, { flat });
  const dOpt = new Adam(schedule.learningRate, schedule.beta1, { flat });
  let epoch = 0;
  let step = 0;
  const saved = await checkpointToResume(loop.checkpointDir, loop.identity, store, loop.restart, loop.name, [loop.metrics.file, ...(loop.outputs ?? [])]);
  if (saved) {
    store.load(saved.weights);
    await store.restoreOptimizer(gOpt, unprefixed('g', saved.optimizer));
    await store.restoreOptimizer(dOpt, unprefixed('d', saved.optimizer));
    epoch = saved.meta.epoch as number;
    step = saved.step;
    loop.rng.seedState = saved.meta.rng as number;
    disposeCheckpoint(saved);
    await loop.metrics.resumeAt(step);
    log(`${loop.name}: resuming after epoch ${epoch} (step ${step}) from ${loop.checkpointDir}`);
    if (epoch >= schedule.epochs) log(`${loop.name}: already trained for ${epoch} epochs, as many as --epochs ${schedule.epochs} asks; raise --epochs to train on`);
  } else {
    await loop.metrics.reset();
  }

  // Adam creates its slots on its first update: the discriminator's count settles only after the
  // generator's first update too, one step later.
  const dRunner = new StepRunner(2);
  const gRunner = new StepRunner(1);
  const updates = new BatchNormUpdates();
  // A step's losses are read back while the next step runs: one stacked read, started as soon as
  // the step is recorded and awaited after the next one is, so a GPU never idles waiting for the
  // host to record a step. A diverged step is therefore caught one step late, still before any checkpoint.
  type Pending = { step: number; names: string[]; values: tf.Tensor1D; read: Promise<tf.backend_util.TypedArray> };
  const pend = (parts: Record<string, tf.Scalar>, at: number): Pending => {
    const values = tf.tidy(() => tf.stack(Object.values(parts)) as tf.Tensor1D);
    tf.dispose(Object.values(parts));
    const read = values.data();
    // Awaited later; a device lost meanwhile must not count as unhandled.
    read.catch(() => undefined);
    return { step: at, names: Object.keys(parts), values, read };
  };
  const settle = async (p: Pending | undefined): Promise<{ step: number; values: Record<string, number> } | undefined> => {
    if (!p) return undefined;
    try {
      const data = await p.read;
      return { step: p.step, values: Object.fromEntries(p.names.map((name, i) => [name, data[i]])) };
    } finally {
      p.values.dispose();
    }
  };

  const deadline = performance.now() + (loop.minutes ?? Infinity) * 60_000;
  for (let stop = false; epoch < schedule.epochs && !stop; ) {
    const lr = learningRateAt(schedule, epoch);
    for (const opt of [gOpt, dOpt]) opt.learningRate = lr;
    const batches = loop.epochBatches(loop.rng);
    const bar = progressBar(`${loop.name} epoch ${epoch + 1}/${schedule.epochs}`, batches.length, 'steps');
    const sums: Record<string, number> = {};
    const record = (read: Awaited<ReturnType<typeof settle>>) => {
      if (!read) return;
      const { step, values } = read;
      assertFinite(values, step);
      for (const [k, v] of Object.entries(values)) sums[k] = (sums[k] ?? 0) + v;
      bar.tick(1, { d: values.d_loss, g: values.g_loss });
    };
    let pending: Pending | undefined;
    const started = performance.now();
    // The bar's timer would keep a failed run's process alive: stop it whatever happens.
    try {
      for (const planned of batches) {
        const batch = await loop.batch(planned, loop.rng);
        const update = (runner: StepRunner, opt: tf.Optimizer, vars: tf.Variable[], prefix: string, losses: () => Losses) =>
          runner.run(
            () => {
              let parts: Record<string, tf.Scalar> = {};
              const cost = opt.minimize(
                () => {
                  const l = losses();
                  // The terms outlive the gradient tape's tidy so that they can be logged.
                  parts = Object.fromEntries(Object.entries(l.parts).map(([k, v]) => [`${prefix}_${k}`, tf.keep(v)]));
                  return l.total;
                },
                true,
                vars,
              )!;
              return { [`${prefix}_loss`]: cost, ...parts };
            },
            pending?.values,
          );
        const fake = loop.fakeImages(batch, loop.rng);
        const d = update(dRunner, dOpt, loop.dVars, 'd', () => loop.discriminatorLoss(batch, fake));
        fake.dispose();
        const g = update(gRunner, gOpt, loop.gVars, 'g', () => loop.generatorLoss(batch, { training: true, updates }, loop.rng));
        updates.apply();
        tf.dispose(batch);
        step++;
        const previous = pending;
        pending = pend({ ...d, ...g }, step);
        record(await settle(previous));
      }
      const last = pending;
      pending = undefined;
      record(await settle(last));
    } finally {
      if (pending) pending.values.dispose();
      bar.stop();
    }
    epoch++;
    const seconds = (performance.now() - started) / 1000;
    const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / batches.length]));
    loop.metrics.append({ step, epoch, lr, seconds, ...means });
    log(`${loop.name} epoch ${epoch}/${schedule.epochs}: ${Object.entries(means).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}; ${seconds.toFixed(1)} s`);
    // Judged by the epoch just run: the next one is expected to take as long.
    stop = epoch < schedule.epochs && performance.now() + seconds * 1000 > deadline;
    if (stop) log(`${loop.name}: stopping after epoch ${epoch}: another would end past the ${Number(loop.minutes!.toPrecision(3))}-minute limit; run again to resume`);
    if (epoch % schedule.checkpointEvery === 0 || epoch === schedule.epochs || stop) {
      // The grid and exported generator first: a run killed between the two then redoes this
      // epoch and writes both again, where the other order left them an epoch behind for good.
      // Not from diverged weights, though: they would replace a good generator.
      for (const [name, v] of store.variables) {
        if (!((await v.data()) as Float32Array).every(Number.isFinite)) throw new DivergedError(`training diverged: weight ${name} holds NaN or infinite values at step ${step}; ${DIVERGED_FIX}`);
      }
      await loop.onCheckpoint?.(epoch);
      const optimizer = { ...prefixed('g', await store.optimizerState(gOpt)), ...prefixed('d', await store.optimizerState(dOpt)) };
      await saveCheckpoint(loop.checkpointDir, { step, weights: store.snapshot(), optimizer, meta: { epoch, rng: loop.rng.seedState, identity: loop.identity } }, schedule.keepCheckpoints);
    }
  }
  gOpt.dispose();
  dOpt.dispose();
  return { epoch, step };
}
