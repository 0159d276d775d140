import { loadConfig, UsageError } from '@t2i/core';
import { tf } from '@t2i/backends';
import { runIdentity } from '@t2i/gan';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Stage1Config } from '../src/config.ts';
import { buildStage1 } from '../src/train.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Stage I configs', () => {
  it('loads every shipped config by name, flags on top', () => {
    const names = readdirSync(path.join(import.meta.dirname, '../configs')).map((f) => path.basename(f, '.json'));
    expect(names).toEqual(expect.arrayContaining(['tiny', 'tiny-wgan-gp', 'full', 'release', 'release-wgan-gp']));
    for (const name of names) expect(loadConfig(Stage1Config, 'stage1', name).name).toBe(name);
    const full = loadConfig(Stage1Config, 'stage1', 'full', { ngf: 32, epochs: undefined });
    expect([full.ngf, full.epochs, full.generator]).toEqual([32, 600, 'complex']);
  });

  it('names the shipped configs for an unknown name, and the field for a bad value or an unknown key', () => {
    for (const name of ['full', 'release', 'tiny']) expect(() => loadConfig(Stage1Config, 'stage1', 'huge')).toThrow(new RegExp(`config "huge": no such file; use one of .*\\b${name}\\b`));
    expect(() => loadConfig(Stage1Config, 'stage1', 'full', { ngf: 0 })).toThrow(UsageError);
    expect(() => loadConfig(Stage1Config, 'stage1', 'full', { ngf: 0 })).toThrow(/ngf: /);
    const file = path.join(dir, 'mine.json');
    writeFileSync(file, JSON.stringify({ ...loadConfig(Stage1Config, 'stage1', 'tiny'), name: undefined, ngfs: 3 }));
    expect(() => loadConfig(Stage1Config, 'stage1', file)).toThrow(/mine\.json.*invalid config[\s\S]*ngfs/);
  });
});

describe('the GAN switches (loss, auxClassLoss, weightAverage...), left out', () => {
  const data = { dim: 1024, encoder: 'abc', images: 7000 };

  it('leave the identity of release.json, whose checkpoints a running training resumes from, as it was before they existed', () => {
    // runIdentity of release.json and `data` before the switches were added.
    const before =
      '{"generator":"complex","discriminator":"complex","ngf":32,"ndf":16,"zDim":100,"conditionDim":128,"batchSize":32,"epochs":0,"learningRate":0,' +
      '"lrDecayEpochs":50,"beta1":0.5,"klWeight":2,"captionsPerExample":4,"checkpointEvery":0,"keepCheckpoints":0,"seed":1,"name":"","dim":1024,"encoder":"abc","images":7000}';
    const release = loadConfig(Stage1Config, 'stage1', 'release');
    expect(runIdentity(release, data)).toBe(before);
    // Written out at their defaults, they name the same run; set otherwise, another.
    const defaults = { beta2: 0.999, loss: 'gan-cls', gradientPenalty: 10, criticSteps: 1, auxClassLoss: 0, weightAverage: 0 };
    expect(runIdentity(Stage1Config.parse({ ...release, ...defaults }), data)).toBe(before);
    for (const [key, value] of Object.entries({ beta2: 0.9, loss: 'wgan-gp', gradientPenalty: 5, criticSteps: 5, auxClassLoss: 1, weightAverage: 0.998 })) {
      expect(runIdentity(Stage1Config.parse({ ...release, [key]: value }), data), key).not.toBe(before);
    }
  });

  it("leave release.json's weights as they were (names, shapes, trainability): its checkpoints still load", async () => {
    await tf.setBackend('cpu');
    const { store } = buildStage1(loadConfig(Stage1Config, 'stage1', 'release'), 1024, 82);
    const layout = [...store.variables].map(([name, v]) => [name, v.shape, v.trainable]);
    store.dispose();
    // The sha-256 of the same list before the switches were added: 59 weights.
    expect(layout).toHaveLength(59);
    expect(createHash('sha256').update(JSON.stringify(layout)).digest('hex')).toBe('a4b760e85ade9ddf207df4d0c40d44a9ce78fe478a261fb4e634ab900c8b581f');
  });
});

