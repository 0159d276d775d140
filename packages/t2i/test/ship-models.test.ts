import { tf } from '@t2i/backends';
import { repoRoot } from '@t2i/core';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { shipTinyModels, stage1Scores as scores, writeTinyModels } from './fixtures.ts';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';

const root = tempDir('t2i-ship-');
const models = path.join(root, 'models');
const run = path.join(root, 'run');
const manifestFile = path.join(models, 'manifest.json');

function shipModels(...args: string[]) {
  const result = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'scripts/ship-models.ts'), '--from', run, ...args], {
    cwd: repoRoot,
    env: { ...process.env, T2I_MODELS: models },
    encoding: 'utf8',
  });
  return { code: result.status, stderr: result.stderr };
}

const writeJson = (file: string, value: unknown) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(value));
};

/** Shipped models scored as the current release (FID 1.129x its floor, top-1 4.8%, top-5 22.2%), and a trained run beside them. */
beforeAll(async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await tf.setBackend('cpu');
  await shipTinyModels(root);
  writeJson(manifestFile, { ...JSON.parse(readFileSync(manifestFile, 'utf8')), scores: scores(17.18, 15.22, 0.048, 0.222) });
  await writeTinyModels(run);
  writeJson(path.join(run, 'embeddings/manifest.json'), { config: { name: 'test' } });
  for (const step of ['embeddings', 'stage1']) writeFileSync(path.join(run, step, 'metrics.jsonl'), '{"step":4,"epoch":1,"seconds":2}\n');
});
afterAll(() => removeDir(root));

describe('ship-models', () => {
  it('refuses a run with no scores, or whose Stage I scores worse than the shipped one, and leaves models/ as it was', () => {
    const before = readFileSync(manifestFile, 'utf8');
    const unscored = shipModels();
    expect(unscored.code).not.toBe(0);
    expect(unscored.stderr).toContain('the run has no Stage I scores to compare with the shipped ones; run evaluate on it first');
    writeJson(path.join(run, 'evaluate/scores.json'), scores(18, 15.22, 0.05, 0.23));
    const worse = shipModels();
    expect(worse.code).not.toBe(0);
    expect(worse.stderr).toContain('Stage I scores worse than the shipped one: FID 1.183x its floor against 1.129x');
    expect(worse.stderr).toContain('(--force ships it anyway)');
    expect(readFileSync(manifestFile, 'utf8')).toBe(before);
  });

  it('ships a run no worse than the shipped one, and with --force any run', () => {
    writeJson(path.join(run, 'evaluate/scores.json'), scores(16, 15.22, 0.05, 0.23));
    const better = shipModels();
    expect(better.code, better.stderr).toBe(0);
    expect(better.stderr).toContain('Stage I is no worse than the shipped one');
    expect(JSON.parse(readFileSync(manifestFile, 'utf8')).scores.stages.stage1.fid.value).toBe(16);
    writeJson(path.join(run, 'evaluate/scores.json'), scores(30, 15.22, 0, 0));
    const forced = shipModels('--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(manifestFile, 'utf8')).scores.stages.stage1.fid.value).toBe(30);
  });

  it("refuses Stage II scores of a Stage II trained on another Stage I than the run's, and ships the Stage II once the scores are its own", async () => {
    await writeTinyModels(run, { stage2: true });
    writeFileSync(path.join(run, 'stage2', 'metrics.jsonl'), '{"step":4,"epoch":2,"seconds":3}\n');
    const row = (fid: number, r: number, distance?: number) => ({ fid: { value: fid }, rPrecision: { mean: r }, classConsistency: { top1: 0.05, top5: 0.23 }, detail: distance === undefined ? { notApplicable: 'n/a' } : { distance } });
    const withStage2 = (stage1Epoch: number) => {
      const base = scores(16, 15.22, 0.05, 0.23, 3);
      return { ...base, stages: { stage1: { ...base.stages.stage1, ...row(16, 0.2) }, stage1Upscaled: row(17, 0.19, 1.5), stage2: { ...row(15, 0.2, 0.3), epoch: 2, stage1Epoch } } };
    };
    const before = readFileSync(manifestFile, 'utf8');
    writeJson(path.join(run, 'evaluate/scores.json'), withStage2(2));
    const stale = shipModels();
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toContain("the run's scores are of a Stage II trained on Stage I epoch 2, its generator on epoch 3; run evaluate on it again");
    expect(readFileSync(manifestFile, 'utf8')).toBe(before);
    writeJson(path.join(run, 'evaluate/scores.json'), withStage2(3));
    const fresh = shipModels();
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).toContain('Stage II beats Stage I upscaled');
    expect(JSON.parse(readFileSync(manifestFile, 'utf8')).stage2.epoch).toBe(2);
  });
});
