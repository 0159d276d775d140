import { DivergedError, log, progressBar, type Progress, type Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { Adam, flatAdamByDefault } from './adam.ts';
import { WeightAverage } from './average.ts';
import { checkpointToResume, disposeCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { BatchNormUpdates, type Mode } from './layers.ts';
import type { Losses } from './losses.ts';
import type { ParamStore } from './params.ts';
import { LossReadback, type StepLosses } from './readback.ts';
import { assertFinite, DIVERGED_FIX, MetricsLog } from './training.ts';
import { ganSetting } from './switches.ts';
import { NetworkUpdate } from './update.ts';

export interface GanSchedule {
  epochs: number;
  learningRate: number;
  /** The learning rate halves every this many epochs (StackGAN's schedule). */
  lrDecayEpochs: number;
  beta1: number;
  /** Absent: GAN_DEFAULTS's. */
  beta2?: number;
  /** Discriminator updates per generator update, each on a batch of its own; absent: GAN_DEFAULTS's (1). */
  criticSteps?: number;
  /** Decay of the generator's weight average (0 or absent: none). */
  weightAverage?: number;
  checkpointEvery: number;
  keepCheckpoints: number;
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
  /** `rng`: for draws of the loss's own (WGAN-GP's interpolation weights). */
  discriminatorLoss(batch: B, fake: tf.Tensor4D, rng: Rng): Losses;
  generatorLoss(batch: B, mode: Mode, rng: Rng): Losses;
  checkpointDir: string;
  metrics: MetricsLog;
  restart: boolean;
  /** A wall-clock budget: the loop stops, checkpointed, after the last epoch expected to end within it. */
  minutes?: number;
  /** At every checkpoint, just before it is written (grids, exports): with the generator's weight average in place where the schedule keeps one. */
  onCheckpoint?(epoch: number): Promise<void>;
  /** With a weight average, at every checkpoint with the generator's trained weights: to export them too, for comparison. */
  onCheckpointTrained?(epoch: number): Promise<void>;
  /** What onCheckpoint writes beside the checkpoints (grids): moved aside with them when a run starts afresh. */
  outputs?: string[];
}

/** How a GAN step's training command runs the loop. */
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
 * The GAN training loop both stages share: per step the fakes, one discriminator update, and on
 * every criticSteps-th step one generator update, the batch-norm statistics folded in; the losses
 * logged; the learning rate
 * halves on schedule; every `checkpointEvery` epochs an atomic checkpoint of weights, both
 * optimizers and the data RNG, from which a later run resumes.
 */
export async function trainGan<B extends tf.TensorContainer, S = number[]>(loop: GanLoop<B, S>): Promise<{ epoch: number; step: number }> {
  const { schedule } = loop;
  const flat = flatAdamByDefault();
  const beta2 = ganSetting(schedule, 'beta2');
  const gOpt = new Adam(schedule.learningRate, schedule.beta1, { flat, beta2 });
  const dOpt = new Adam(schedule.learningRate, schedule.beta1, { flat, beta2 });
  const criticSteps = ganSetting(schedule, 'criticSteps');
  const decay = ganSetting(schedule, 'weightAverage');
  const average = decay > 0 ? new WeightAverage(loop.store, decay, ['g', 'ca']) : undefined;
  let { epoch, step } = await resume(loop, gOpt, dOpt, average);
  // Adam makes its slots on its first update: the discriminator's count settles only after the
  // generator's first update too, the step after it.
  const D = new NetworkUpdate('d', dOpt, loop.dVars, criticSteps + 1);
  const G = new NetworkUpdate('g', gOpt, loop.gVars, 1);
  const updates = new BatchNormUpdates();
  const readback = new LossReadback();
  const deadline = performance.now() + (loop.minutes ?? Infinity) * 60_000;

  for (let stop = false; epoch < schedule.epochs && !stop; ) {
    const lr = learningRateAt(schedule, epoch);
    for (const opt of [gOpt, dOpt]) opt.learningRate = lr;
    const batches = loop.epochBatches(loop.rng);
    const meter = new EpochMeter(`${loop.name} epoch ${epoch + 1}/${schedule.epochs}`, batches.length);
    const started = performance.now();
    // The bar's timer would keep a failed run's process alive: stop it whatever happens.
    try {
      for (const [i, planned] of batches.entries()) {
        const batch = await loop.batch(planned, loop.rng);
        const fake = loop.fakeImages(batch, loop.rng);
        const d = D.step(() => loop.discriminatorLoss(batch, fake, loop.rng), readback.carried);
        fake.dispose();
        let g = {};
        if ((i + 1) % criticSteps === 0) {
          g = G.step(() => loop.generatorLoss(batch, { training: true, updates }, loop.rng), readback.carried);
          updates.apply();
          average?.update();
        }
        tf.dispose(batch);
        step++;
        meter.record(await readback.push({ ...d, ...g }, step));
      }
      meter.record(await readback.flush());
    } finally {
      readback.discard();
      meter.stop();
    }
    epoch++;
    const seconds = (performance.now() - started) / 1000;
    const means = meter.means();
    loop.metrics.append({ step, epoch, lr, seconds, ...means });
    log(`${loop.name} epoch ${epoch}/${schedule.epochs}: ${Object.entries(means).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}; ${seconds.toFixed(1)} s`);
    // Judged by the epoch just run: the next one is expected to take as long.
    stop = epoch < schedule.epochs && performance.now() + seconds * 1000 > deadline;
    if (stop) log(`${loop.name}: stopping after epoch ${epoch}: another would end past the ${Number(loop.minutes!.toPrecision(3))}-minute limit; run again to resume`);
    if (epoch % schedule.checkpointEvery === 0 || epoch === schedule.epochs || stop) await checkpoint(loop, epoch, step, gOpt, dOpt, average);
  }
  gOpt.dispose();
  dOpt.dispose();
  average?.dispose();
  return { epoch, step };
}

/** Where training starts: after the newest checkpoint of this run (its weights, optimizers, data RNG and metrics), else at step 0. */
async function resume<B, S>(loop: GanLoop<B, S>, gOpt: Adam, dOpt: Adam, average?: WeightAverage): Promise<{ epoch: number; step: number }> {
  const saved = await checkpointToResume(loop.checkpointDir, loop.identity, loop.store, loop.restart, loop.name, [loop.metrics.file, ...(loop.outputs ?? [])]);
  if (!saved) {
    await loop.metrics.reset();
    return { epoch: 0, step: 0 };
  }
  loop.store.load(saved.weights);
  average?.load(saved.weights, saved.meta.averageUpdates as number);
  await loop.store.restoreOptimizer(gOpt, unprefixed('g', saved.optimizer));
  await loop.store.restoreOptimizer(dOpt, unprefixed('d', saved.optimizer));
  const epoch = saved.meta.epoch as number;
  const step = saved.step;
  loop.rng.seedState = saved.meta.rng as number;
  disposeCheckpoint(saved);
  await loop.metrics.resumeAt(step);
  log(`${loop.name}: resuming after epoch ${epoch} (step ${step}) from ${loop.checkpointDir}`);
  if (epoch >= loop.schedule.epochs) log(`${loop.name}: already trained for ${epoch} epochs, as many as --epochs ${loop.schedule.epochs} asks; raise --epochs to train on`);
  return { epoch, step };
}

/**
 * The grid and exported generator first (onCheckpoint), then the checkpoint: a run killed between
 * the two then redoes this epoch and writes both again, where the other order left them an epoch
 * behind for good. Not from diverged weights, though: they would replace a good generator.
 */
async function checkpoint<B, S>(loop: GanLoop<B, S>, epoch: number, step: number, gOpt: Adam, dOpt: Adam, average?: WeightAverage): Promise<void> {
  const { store } = loop;
  for (const [name, v] of store.variables) {
    if (!((await v.data()) as Float32Array).every(Number.isFinite)) throw new DivergedError(`training diverged: weight ${name} holds NaN or infinite values at step ${step}; ${DIVERGED_FIX}`);
  }
  if (average) {
    await average.whileApplied(async () => loop.onCheckpoint?.(epoch));
    await loop.onCheckpointTrained?.(epoch);
  } else {
    await loop.onCheckpoint?.(epoch);
  }
  const optimizer = { ...prefixed('g', await store.optimizerState(gOpt)), ...prefixed('d', await store.optimizerState(dOpt)) };
  const weights = { ...store.snapshot(), ...average?.snapshot() };
  const meta = { epoch, rng: loop.rng.seedState, identity: loop.identity, ...(average && { averageUpdates: average.updates }) };
  await saveCheckpoint(loop.checkpointDir, { step, weights, optimizer, meta }, loop.schedule.keepCheckpoints);
}

/** An epoch's progress bar, and the sums of its steps' losses for the epoch's means; a non-finite loss stops the run. */
class EpochMeter {
  private readonly bar: Progress;
  private readonly sums: Record<string, number> = {};
  /** Steps that logged each loss: the generator's only every criticSteps-th. */
  private readonly counts: Record<string, number> = {};

  constructor(label: string, steps: number) {
    this.bar = progressBar(label, steps, 'steps');
  }

  record(read: StepLosses | undefined): void {
    if (!read) return;
    const { step, values } = read;
    assertFinite(values, step);
    for (const [k, v] of Object.entries(values)) {
      this.sums[k] = (this.sums[k] ?? 0) + v;
      this.counts[k] = (this.counts[k] ?? 0) + 1;
    }
    // A critic-only step has no generator loss to show.
    this.bar.tick(1, Object.fromEntries(Object.entries({ d: values.d_loss, g: values.g_loss }).filter(([, v]) => v !== undefined)));
  }

  means(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.sums).map(([k, v]) => [k, v / this.counts[k]]));
  }

  stop(): void {
    this.bar.stop();
  }
}
