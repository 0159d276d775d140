import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { assertFinite, listCheckpoints, MetricsLog, ParamStore, StepRunner, trainGan } from '../src/index.ts';

const dirs: string[] = [];
const dir = () => (dirs.push(tempDir()), dirs[dirs.length - 1]);
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('StepRunner', () => {
  it('lets steps run inside tidy and catches a tensor that escapes', () => {
    const runner = new StepRunner();
    const v = tf.variable(tf.scalar(1));
    for (let i = 0; i < 3; i++) runner.run(() => void v.assign(v.add(1)));
    let leaked: tf.Tensor[] = [];
    const leaky = new StepRunner();
    leaky.run(() => undefined);
    expect(() =>
      leaky.run(() => {
        leaked.push(tf.keep(tf.scalar(2)));
      }),
    ).toThrow(/tensor leak: 1 more live tensors after step 2/);
    tf.dispose(leaked);
    leaked = [];
  });

  it('stops on a NaN loss', () => {
    expect(() => assertFinite({ d: 0.5, g: NaN }, 12)).toThrow(/g is NaN at step 12/);
  });
});

describe('trainGan', () => {
  /** A one-weight GAN whose losses are also read synchronously as they happen; NaN from step `nanAt`. */
  function tinyGan(outDir: string, nanAt = Infinity) {
    const store = new ParamStore(new Rng(3));
    const g = store.add('g/w', [1], { kind: 'normal', std: 1 });
    const d = store.add('d/w', [1], { kind: 'normal', std: 1 });
    const seen: { step: number; d: number; g: number }[] = [];
    let step = 0;
    const loop = {
      name: 'tiny',
      store,
      gVars: [g],
      dVars: [d],
      schedule: { epochs: 2, learningRate: 0.05, lrDecayEpochs: 100, beta1: 0.5, checkpointEvery: 1, keepCheckpoints: 5 },
      identity: 'tiny',
      rng: new Rng(4),
      epochBatches: () => [[0], [1], [2]],
      batch: (rows: number[]) => tf.tensor4d(rows.map((r) => r + 1), [1, 1, 1, 1]),
      fakeImages: (batch: tf.Tensor4D) => tf.tidy(() => batch.mul(g)) as tf.Tensor4D,
      discriminatorLoss: (batch: tf.Tensor4D, fake: tf.Tensor4D) => {
        step++;
        const total = fake.sub(batch.mul(d)).square().mean() as tf.Scalar;
        seen.push({ step, d: total.dataSync()[0], g: NaN });
        return { total, parts: {} };
      },
      generatorLoss: (batch: tf.Tensor4D) => {
        const total = (step >= nanAt ? batch.mul(g).log().mul(NaN) : batch.mul(g).mul(d).sub(1).square()).mean() as tf.Scalar;
        seen[seen.length - 1].g = total.dataSync()[0];
        return { total, parts: {} };
      },
      checkpointDir: path.join(outDir, 'checkpoints'),
      metrics: new MetricsLog(path.join(outDir, 'metrics.jsonl')),
      restart: true,
    };
    return { loop, seen };
  }

  it("logs each epoch's mean losses of its own steps, though each step's are read during the next", async () => {
    const out = dir();
    const { loop, seen } = tinyGan(out);
    expect(await trainGan(loop)).toEqual({ epoch: 2, step: 6 });
    const logged = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const [i, epoch] of logged.entries()) {
      const steps = seen.slice(3 * i, 3 * i + 3);
      expect(epoch.d_loss).toBeCloseTo(mean(steps.map((s) => s.d)), 6);
      expect(epoch.g_loss).toBeCloseTo(mean(steps.map((s) => s.g)), 6);
    }
    expect(new Set(logged.map((l) => l.d_loss)).size).toBe(2);
    loop.store.dispose();
  });

  it('with criticSteps k, updates the generator on every k-th step only, and averages each loss over the steps that logged it', async () => {
    const out = dir();
    const { loop, seen } = tinyGan(out);
    Object.assign(loop.schedule, { criticSteps: 2 });
    expect(await trainGan(loop)).toEqual({ epoch: 2, step: 6 });
    // Three batches an epoch: the generator's update follows the second critic update of each.
    expect(seen.map((s) => !Number.isNaN(s.g))).toEqual([false, true, false, false, true, false]);
    const logged = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const [i, epoch] of logged.entries()) {
      expect(epoch.d_loss).toBeCloseTo(seen.slice(3 * i, 3 * i + 3).reduce((a, s) => a + s.d, 0) / 3, 6);
      expect(epoch.g_loss).toBeCloseTo(seen[3 * i + 1].g, 6);
    }
    loop.store.dispose();
  });

  it('stops with a checkpoint when another epoch would overrun --minutes, and resumes from it', async () => {
    const out = dir();
    const { loop } = tinyGan(out);
    expect(await trainGan({ ...loop, minutes: 1e-9 })).toEqual({ epoch: 1, step: 3 });
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    expect(await trainGan({ ...loop, restart: false })).toEqual({ epoch: 2, step: 6 });
    // Run again, nothing left to do: it says so rather than exiting without a word.
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await trainGan({ ...loop, restart: false })).toEqual({ epoch: 2, step: 6 });
      expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/tiny: already trained for 2 epochs, as many as --epochs 2 asks; raise --epochs to train on/);
    } finally {
      stderr.mockRestore();
    }
    loop.store.dispose();
  });

  it("with a weight average: trains as without, lends the generator's average to onCheckpoint and its trained weights to onCheckpointTrained, and resumes it exactly", async () => {
    const decay = 0.6;
    const run = async (minutes?: number) => {
      const out = dir();
      const { loop, seen } = tinyGan(out);
      Object.assign(loop.schedule, { weightAverage: decay });
      const g = loop.store.variables.get('g/w')!;
      const d = loop.store.variables.get('d/w')!;
      // The generator's weight at the start of each step: what the previous step's update left.
      const starts: number[] = [];
      const atCheckpoint: { epoch: number; g: number; d: number; trained: number }[] = [];
      const hooks = {
        fakeImages: (batch: tf.Tensor4D) => (starts.push(g.dataSync()[0]), loop.fakeImages(batch)),
        onCheckpoint: async (epoch: number) => void atCheckpoint.push({ epoch, g: g.dataSync()[0], d: d.dataSync()[0], trained: NaN }),
        onCheckpointTrained: async () => void (atCheckpoint[atCheckpoint.length - 1].trained = g.dataSync()[0]),
      };
      if (minutes) await trainGan({ ...loop, ...hooks, minutes });
      await trainGan({ ...loop, ...hooks, restart: minutes === undefined });
      const final = { g: g.dataSync()[0], d: d.dataSync()[0] };
      loop.store.dispose();
      return { seen, starts, atCheckpoint, final };
    };
    const straight = await run();
    const plain = tinyGan(dir());
    await trainGan(plain.loop);
    plain.loop.store.dispose();
    // Averaging draws nothing and changes no weight: the same losses as a run without it.
    expect(straight.seen).toEqual(plain.seen);

    // After each of the 6 updates: the next step's starting weight, the last one the trained weight at the end.
    const after = [...straight.starts.slice(1), straight.final.g];
    const average = (t: number) => after.slice(0, t).reduce((sum, w, i) => sum + (1 - decay) * decay ** (t - 1 - i) * w, 0) / (1 - decay ** t);
    expect(straight.atCheckpoint.map((c) => c.epoch)).toEqual([1, 2]);
    expect(straight.atCheckpoint[0].g).toBeCloseTo(average(3), 5);
    expect(straight.atCheckpoint[1].g).toBeCloseTo(average(6), 5);
    expect(straight.atCheckpoint[1].g).not.toBeCloseTo(straight.final.g, 3);
    // The discriminator is not averaged; the trained generator comes back after the checkpoint.
    expect(straight.atCheckpoint[1].d).toBe(straight.final.d);
    expect(straight.atCheckpoint[1].trained).toBe(straight.final.g);

    // Stopped after epoch 1 and resumed: the same average at the end as straight through.
    const resumed = await run(1e-9);
    expect(resumed.atCheckpoint.map((c) => c.epoch)).toEqual([1, 2]);
    expect(resumed.atCheckpoint[1].g).toBeCloseTo(straight.atCheckpoint[1].g, 6);
    expect(resumed.final).toEqual(straight.final);
  });

  it('stops on the step that diverged, before its epoch is checkpointed', async () => {
    const out = dir();
    const { loop } = tinyGan(out, 5);
    const err = (await trainGan(loop).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('DivergedError');
    expect(err.message).toMatch(/g_loss is NaN at step 5; nothing of this run was checkpointed since; run again with a lower --learning-rate/);
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    loop.store.dispose();
  });

  it('exports and checkpoints nothing from weights gone non-finite while the losses stayed finite', async () => {
    const out = dir();
    const { loop } = tinyGan(out);
    const unused = loop.store.add('g/unused', [2], { kind: 'zeros' });
    let epochs = 0;
    const exported: number[] = [];
    const run = trainGan({
      ...loop,
      epochBatches: () => {
        if (++epochs === 2) tf.tidy(() => unused.assign(tf.tensor1d([1, Infinity])));
        return [[0], [1], [2]];
      },
      onCheckpoint: async (epoch: number) => void exported.push(epoch),
    });
    await expect(run).rejects.toThrow('training diverged: weight g/unused holds NaN or infinite values at step 6');
    expect(exported).toEqual([1]);
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    loop.store.dispose();
  });
});

describe('MetricsLog', () => {
  it('drops the lines a killed run wrote after the checkpoint it resumes from', async () => {
    const file = path.join(dir(), 'm.jsonl');
    const log = new MetricsLog(file);
    await log.reset();
    for (const step of [10, 20, 30]) log.append({ step, loss: step / 10 });
    await log.resumeAt(20);
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step)).toEqual([10, 20]);
    expect(existsSync(file)).toBe(true);
  });
});
