import { Rng } from '@t2i/core';
import { registerWasmTrainingKernels, tf } from '@t2i/backends';
import { networkVariables } from '@t2i/gan';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import type { Stage1Config } from '../src/config.ts';
import { ganBatch, ganData } from '../src/data.ts';
import { buildStage1, stage1Losses, trainStage1 } from '../src/train.ts';
import { syntheticGanData, tinyStage1 } from './fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

/** Both switches on, WGAN-GP's Adam betas, the complex networks at a test's width. */
const switched = (overrides: Partial<Stage1Config> = {}) =>
  tinyStage1({ generator: 'complex', discriminator: 'complex', ngf: 4, ndf: 4, loss: 'wgan-gp', auxClassLoss: 0.5, beta1: 0, beta2: 0.9, ...overrides });

function setUp(config: Stage1Config) {
  const data = ganData(syntheticGanData().images, syntheticGanData().vectors);
  const models = buildStage1(config, data.vectors.dim, data.classes.length);
  const rng = new Rng(11);
  const batch = ganBatch(data, data.rows.slice(0, config.batchSize), 64, config.captionsPerExample, rng);
  return { data, models, rng, batch, losses: stage1Losses(models, config) };
}

const weightNames = (config: Stage1Config) => {
  const { models, batch } = setUp(config);
  const names = [...models.store.variables.keys()];
  models.store.dispose();
  tf.dispose(batch);
  return names;
};

describe('Stage I under loss wgan-gp and with auxClassLoss', () => {
  it('makes a critic with layer norm for every batch norm (no moving averages) and an auxiliary classifier head over the training classes; neither without the switches', () => {
    const plain = weightNames(tinyStage1({ generator: 'complex', discriminator: 'complex', ngf: 4, ndf: 4 }));
    const both = weightNames(switched());
    const critic = (names: string[]) => names.filter((n) => n.startsWith('d/'));
    expect(critic(both).filter((n) => n.includes('/bn/'))).toEqual([]);
    expect(critic(both).filter((n) => n.includes('/ln/'))).toEqual(critic(plain).filter((n) => n.endsWith('/bn/gamma_beta')).map((n) => n.replace('/bn/', '/ln/')));
    expect(both.filter((n) => n.startsWith('d/classifier'))).toEqual(['d/classifier/w', 'd/classifier/b']);
    expect(plain.filter((n) => n.includes('/ln/') || n.startsWith('d/classifier'))).toEqual([]);
    // The generator keeps its batch norm.
    expect(both.filter((n) => n.startsWith('g/'))).toEqual(plain.filter((n) => n.startsWith('g/')));
  });

  it('labels each image with its class\'s index over the training classes, and refuses a test class', () => {
    const { images, vectors } = syntheticGanData(3);
    const data = ganData(images, vectors);
    expect(data.classes).toEqual([1, 2, 3]);
    const batch = ganBatch(data, [0, 5, 11], 64, 4, new Rng(1));
    expect(Array.from(batch.labels!.dataSync())).toEqual([0, 1, 2]);
    tf.dispose(batch);
    images.splits[11] = 'test';
    images.classIds[11] = 9;
    const withTest = ganData(images, vectors);
    expect(withTest.rows).not.toContain(11);
    expect(() => ganBatch(withTest, [0, 11], 64, 4, new Rng(1))).toThrow(/class 9 is not a training class/);
  });

  it("adds to the critic's loss its terms as weighted in the config, and its gradient penalty reaches every critic weight (a second derivative)", () => {
    const config = switched({ gradientPenalty: 3 });
    const { models, rng, batch, losses } = setUp(config);
    tf.tidy(() => {
      const fake = losses.fakeImages(batch, rng);
      const { total, parts } = losses.discriminatorLoss(batch, fake, rng);
      const v = (k: string) => parts[k].dataSync()[0];
      expect(Object.keys(parts)).toEqual(['real', 'wrong', 'fake', 'penalty', 'class_real', 'class_fake']);
      expect(total.dataSync()[0]).toBeCloseTo(v('real') + (v('wrong') + v('fake')) / 2 + 3 * v('penalty') + 0.5 * (v('class_real') + v('class_fake')), 4);
      const critic = networkVariables(models.store).dVars.filter((w) => !w.name.includes('d/classifier'));
      const { grads } = tf.variableGrads(() => losses.discriminatorLoss(batch, fake, new Rng(3)).parts.penalty, critic);
      for (const w of critic) expect(grads[w.name]?.abs().max().dataSync()[0] ?? 0, w.name).toBeGreaterThan(0);
    });
    models.store.dispose();
    tf.dispose(batch);
  });

  it("gives a training step's gradients (critic with gradient penalty and auxiliary classifier; generator) on wasm as on cpu", async () => {
    // Gradients rather than weights after Adam: its first step moves a weight by ±lr whatever its
    // gradient's size, so a bias batch norm cancels (gradient 0 up to rounding) could go either way.
    const gradients = async (backend: string) => {
      await tf.setBackend(backend);
      const { models, rng, batch, losses } = setUp(switched());
      const { gVars, dVars } = networkVariables(models.store);
      // tfjs names variables by store (store0:d/...): the parameter name is what matches across stores.
      const read = (grads: tf.NamedTensorMap) => Object.entries(grads).map(([name, g]) => ({ name: name.slice(name.indexOf(':') + 1), values: Array.from(g.dataSync()) }));
      const result = tf.tidy(() => {
        const fake = losses.fakeImages(batch, rng);
        const d = read(tf.variableGrads(() => losses.discriminatorLoss(batch, fake, rng).total, dVars).grads);
        return [...d, ...read(tf.variableGrads(() => losses.generatorLoss(batch, { training: true }, rng).total, gVars).grads)];
      });
      tf.dispose(batch);
      models.store.dispose();
      return result;
    };
    const want = await gradients('cpu');
    registerWasmTrainingKernels();
    const got = await gradients('wasm');
    await tf.setBackend('cpu');
    expect(got.map((g) => g.name)).toEqual(want.map((g) => g.name));
    // Against each gradient's own size, but no less than a thousandth of the largest: a bias batch
    // norm cancels has a gradient of rounding error (1e-10) on either backend.
    const floor = 1e-3 * Math.max(...want.flatMap((g) => g.values.map(Math.abs)));
    want.forEach(({ name, values }, i) => {
      const scale = Math.max(floor, ...values.map(Math.abs));
      expect(Math.max(...values.map((v, j) => Math.abs(v - got[i].values[j]))) / scale, name).toBeLessThan(1e-4);
    });
  });

  for (const [label, overrides] of [
    ['loss wgan-gp, 2 critic steps a generator step', { auxClassLoss: undefined, criticSteps: 2 }],
    ['auxClassLoss 1 under gan-cls', { loss: undefined, auxClassLoss: 1, beta1: 0.5, beta2: undefined }],
  ] as const) {
    it(`trains with ${label}: finite losses, every weight moved, no tensor left behind`, async () => {
      const config = switched({ ...overrides, epochs: 1 });
      const outDir = tempDir();
      dirs.push(outDir);
      const { images, vectors } = syntheticGanData();
      const data = ganData(images, vectors);
      const models = buildStage1(config, vectors.dim, data.classes.length);
      const initial = new Map([...models.store.variables].map(([n, v]) => [n, Array.from(v.dataSync())]));
      const before = tf.memory().numTensors;
      await trainStage1(models, data, config, { outDir, restart: true, backend: 'cpu' });
      expect(tf.memory().numTensors - before).toBe(0);
      const unmoved = [...models.store.variables].filter(([n, v]) => v.trainable && Array.from(v.dataSync()).every((x, i) => x === initial.get(n)![i]));
      expect(unmoved.map(([n]) => n)).toEqual([]);
      models.store.dispose();
      const metrics = readFileSync(path.join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const expected = config.loss === 'wgan-gp' ? ['d_penalty'] : ['d_class_real', 'd_class_fake', 'g_class'];
      for (const m of metrics) for (const key of ['d_loss', 'g_loss', ...expected]) expect(Number.isFinite(m[key]), key).toBe(true);
    });
  }
});
