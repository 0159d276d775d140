import { tf } from '@t2i/backends';
import { disposeCheckpoint, loadCheckpoint, saveCheckpoint } from '@t2i/gan';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { ganData } from '../src/data.ts';
import { buildStage1, trainStage1 } from '../src/train.ts';
import { syntheticGanData, tinyStage1 } from './fixtures.ts';
import type { Stage1Config } from '../src/config.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

async function train(config: Stage1Config, outDir = tempDir(), restart = true, encoderId?: string) {
  dirs.push(outDir);
  const { images, vectors } = syntheticGanData();
  vectors.encoderId = encoderId;
  const models = buildStage1(config, vectors.dim);
  const values = () => Object.fromEntries([...models.store.variables].map(([n, v]) => [n, Array.from(v.dataSync())]));
  const initial = values();
  const before = tf.memory().numTensors;
  await trainStage1(models, ganData(images, vectors), config, { outDir, restart, backend: 'cpu' });
  const leaked = tf.memory().numTensors - before;
  const weights = values();
  const trainable = [...models.store.variables].filter(([, v]) => v.trainable).map(([n]) => n);
  models.store.dispose();
  // The trainable weights that training left as they were.
  const unmoved = trainable.filter((n) => weights[n].every((v, i) => v === initial[n][i]));
  return { weights, outDir, leaked, unmoved };
}

describe('Stage I training', () => {
  it('resumes from a checkpoint exactly as if it had never stopped, with no tensor left behind', async () => {
    const straight = await train(tinyStage1({ epochs: 2 }));
    expect(straight.leaked).toBe(0);
    expect(straight.unmoved).toEqual([]);
    const half = await train(tinyStage1({ epochs: 1 }));
    // Checkpoint spacing and count may change between the runs of one training.
    vi.mocked(process.stderr.write).mockClear();
    const resumed = await train(tinyStage1({ epochs: 2, checkpointEvery: 3, keepCheckpoints: 4 }), half.outDir, false);
    expect(vi.mocked(process.stderr.write).mock.calls.map(([m]) => String(m)).join('')).toMatch(/resuming after epoch 1/);
    // Equal up to float rounding: a restored Adam recomputes beta^t where an unbroken one has
    // multiplied it up step by step (differences ~1e-8 against ~1e-3 per epoch of change).
    for (const [name, values] of Object.entries(straight.weights)) {
      const diff = Math.max(...values.map((v, i) => Math.abs(v - resumed.weights[name][i])));
      expect(diff, name).toBeLessThan(1e-6);
    }
    const metrics = readFileSync(path.join(half.outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    // the learning rate halves every lrDecayEpochs (1 here)
    expect(metrics.map((m) => m.lr)).toEqual([0.001, 0.0005]);
    for (const key of ['d_loss', 'd_real', 'd_wrong', 'd_fake', 'g_loss', 'g_adversarial', 'g_kl']) expect(Number.isFinite(metrics[0][key])).toBe(true);
    for (const f of ['grids/epoch-0001.png', 'grids/epoch-0002.png', 'grid-latest.png', 'generator/tensors.json']) expect(existsSync(path.join(half.outDir, f))).toBe(true);
  });

  it("sets aside, saying why, a checkpoint whose weights do not fit the model (an earlier version's layout), then resumes from its own", async () => {
    const straight = await train(tinyStage1({ epochs: 2 }));
    const first = await train(tinyStage1({ epochs: 1 }));
    const checkpoints = path.join(first.outDir, 'checkpoints');
    const saved = (await loadCheckpoint(checkpoints))!;
    const { 'g/fc_bn/gamma_beta': gammaBeta, ...rest } = saved.weights;
    const [gamma, beta] = tf.unstack(gammaBeta);
    rmSync(checkpoints, { recursive: true });
    // At a later step than the new run reaches: kept in place, it would outlast the run's own checkpoints.
    await saveCheckpoint(checkpoints, { ...saved, step: 1000, weights: { ...rest, 'g/fc_bn/gamma': gamma, 'g/fc_bn/beta': beta } });
    disposeCheckpoint(saved);
    tf.dispose([gamma, beta]);
    const stderr = vi.mocked(process.stderr.write);
    stderr.mockClear();
    await train(tinyStage1({ epochs: 1 }), first.outDir, false);
    const resumed = await train(tinyStage1({ epochs: 2 }), first.outDir, false);
    const logged = stderr.mock.calls.map(([m]) => String(m)).join('');
    expect(logged).toContain(`the checkpoint in ${checkpoints} does not fit this version's model (no weight g/fc_bn/gamma_beta); training from scratch (the earlier run is moved to ${first.outDir}/set-aside-`);
    expect(logged).toMatch(/resuming after epoch 1 \(step \d+\)/);
    for (const [name, values] of Object.entries(straight.weights)) {
      expect(Math.max(...values.map((v, i) => Math.abs(v - resumed.weights[name][i]))), name).toBeLessThan(1e-6);
    }
    const aside = readdirSync(first.outDir).filter((f) => f.startsWith('set-aside-'));
    expect(aside.map((f) => readdirSync(path.join(first.outDir, f)).sort())).toEqual([['checkpoints', 'grid-latest.png', 'grids', 'metrics.jsonl']]);
    expect(readdirSync(path.join(first.outDir, aside[0], 'checkpoints'))).toEqual(['step-00001000']);
  });

  it("does not resume a run whose sentence vectors came from another encoder: it sets it aside, naming the change", async () => {
    const first = await train(tinyStage1({ epochs: 1 }), tempDir(), true, 'aaaaaaaaaaaaaaaaaaaa');
    vi.mocked(process.stderr.write).mockClear();
    await train(tinyStage1({ epochs: 2 }), first.outDir, false, 'bbbbbbbbbbbbbbbbbbbb');
    const said = vi.mocked(process.stderr.write).mock.calls.map(([m]) => String(m)).join('');
    expect(said).toMatch(/is of another config or dataset \(encoder aaaaaaaa… -> bbbbbbbb…\); training from scratch/);
    expect(said).not.toMatch(/resuming/);
    expect(readdirSync(first.outDir).filter((n) => n.startsWith('set-aside-'))).toHaveLength(1);
  });

  it('trains the complex networks too: every weight of G, its conditioning augmentation and D', async () => {
    const run = await train(tinyStage1({ epochs: 1, generator: 'complex', discriminator: 'complex', ngf: 4, ndf: 4 }));
    expect(run.leaked).toBe(0);
    expect(run.unmoved).toEqual([]);
    expect(Object.keys(run.weights)).toEqual(expect.arrayContaining(['g/res4/a/conv/w', 'ca/fc/w', 'd/res4/c/conv/w']));
  });
});
