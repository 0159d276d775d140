import { tf } from '@t2i/backends';
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { upscaleImages } from 'preprocess-images';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { runT2i } from '../../../test/helpers/run.ts';
import { describeModels, loadPipeline, locateModels, modelArtifacts } from '../src/pipeline.ts';
import { stage1Verdict, stage2Verdict, verifyShipped } from '../src/shipped.ts';
import { keepModelEnv, shipTinyModels, stage1Scores } from './fixtures.ts';

const root = tempDir('t2i-shipped-');
const models = path.join(root, 'models');
const restoreEnv = keepModelEnv();

/** A tiny trained encoder and Stage I generator, shipped into `models` as the release would be. */
beforeAll(async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await tf.setBackend('cpu');
  await shipTinyModels(root);
  process.env.T2I_MODELS = models;
  process.env.T2I_ARTIFACTS = path.join(root, 'no-pipeline-yet');
});

afterAll(() => {
  restoreEnv();
  removeDir(root);
});

describe('the shipped models', () => {
  it('are what a command draws with when no pipeline has trained models, and it says so; the same seed draws the same flowers', async () => {
    const { source, stage, note } = locateModels(2);
    expect(source.kind).toBe('shipped');
    expect([stage, note]).toEqual([1, 'no Stage II ships yet: 64x64 images only']);
    const pipeline = await loadPipeline({ stage, source });
    try {
      expect(describeModels(source, pipeline.stage1.epoch)).toMatch(/^models: shipped in .*models \(synthetic; Stage I epoch 3 of 10 planned; no pipeline has trained models under data\/ yet\)$/);
      const draw = async (seed: number) => Array.from((await pipeline.generate('a red flower', { n: 2, seed })).low);
      const first = await draw(5);
      expect(await draw(5)).toEqual(first);
      expect(await draw(6)).not.toEqual(first);
    } finally {
      pipeline.dispose();
    }
  });

  it('make generate write 256 px images upscaled from Stage I with lanczos3, saying so; --stage 1 keeps to 64', async () => {
    const user = path.join(root, 'user');
    mkdirSync(user, { recursive: true });
    const env = { T2I_MODELS: models, T2I_ARTIFACTS: process.env.T2I_ARTIFACTS!, T2I_BACKEND: 'cpu' };
    const run = runT2i(['generate', 'a red flower', '--n', '2', '--out', 'both'], env, user);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('no Stage II model: 256 px images are Stage I upscaled (lanczos3)');
    expect(run.stderr).not.toContain('64x64 images only');
    const out = path.join(user, 'both');
    expect(readdirSync(out).sort()).toEqual(['all-256.png', 'all-64.png', 'image-1-256.png', 'image-1-64.png', 'image-2-256.png', 'image-2-64.png']);
    const pixels = async (name: string) => new Uint8Array(await sharp(path.join(out, name)).removeAlpha().raw().toBuffer());
    for (const i of [1, 2]) {
      const upscaled = await upscaleImages(await pixels(`image-${i}-64.png`), 1, 64, 256);
      expect(Buffer.from(await pixels(`image-${i}-256.png`)).equals(Buffer.from(upscaled))).toBe(true);
    }
    const only1 = runT2i(['generate', 'a red flower', '--n', '2', '--stage', '1', '--out', 'low'], env, user);
    expect(only1.code, only1.stderr).toBe(0);
    expect(only1.stderr).not.toContain('upscaled');
    expect(readdirSync(path.join(user, 'low')).sort()).toEqual(['all-64.png', 'image-1-64.png', 'image-2-64.png']);
  });

  it('give way to the models a pipeline trained under data/', () => {
    const a = modelArtifacts();
    for (const file of [a.encoder.file, a.stage1.file]) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, '{}');
    }
    try {
      expect(locateModels(1).source.kind).toBe('trained');
    } finally {
      rmSync(process.env.T2I_ARTIFACTS!, { recursive: true, force: true });
    }
  });

  it('are float16, the encoder with its image side (for measuring them), and each file is listed with its size and sha256', () => {
    const manifest = verifyShipped(models)!;
    expect(Object.keys(manifest.files).sort()).toEqual(['encoder/tensors.bin', 'encoder/tensors.json', 'stage1/tensors.bin', 'stage1/tensors.json']);
    const entries = (dir: string) => JSON.parse(readFileSync(path.join(models, dir, 'tensors.json'), 'utf8')).tensors as { name: string; dtype: string }[];
    expect(['text/', 'image/'].map((side) => entries('encoder').some((e) => e.name.startsWith(side)))).toEqual([true, true]);
    expect([...entries('encoder'), ...entries('stage1')].every((e) => e.dtype === 'float16')).toBe(true);
  });

  it('refuse a damaged, truncated or missing file, naming it and the way to restore it', () => {
    const bin = path.join(models, 'stage1', 'tensors.bin');
    const original = readFileSync(bin);
    try {
      const altered = Buffer.from(original);
      altered[10] ^= 0xff;
      writeFileSync(bin, altered);
      expect(() => verifyShipped(models)).toThrow(new RegExp(`${bin.replace(/[.]/g, '\\.')} is damaged: sha256 .* where the manifest says .*; restore it with \`git checkout -- models/\``));
      expect(() => locateModels(1)).toThrow(/stage1\/tensors\.bin is damaged/);
      truncateSync(bin, 100);
      expect(() => verifyShipped(models)).toThrow(/is damaged: 100 bytes where the manifest says \d+/);
      rmSync(bin);
      expect(() => verifyShipped(models)).toThrow(/stage1\/tensors\.bin is missing/);
    } finally {
      writeFileSync(bin, original);
    }
    expect(verifyShipped(models)).toBeDefined();
  });

  it('take a Stage II where one ships: generate writes its 256 px images, and shipping without it removes the old one', async () => {
    const withStage2 = path.join(root, 'with-stage2');
    const shipped = await shipTinyModels(withStage2, { stage2: true });
    const env = { T2I_MODELS: shipped, T2I_ARTIFACTS: process.env.T2I_ARTIFACTS!, T2I_BACKEND: 'cpu' };
    const manifest = verifyShipped(shipped)!;
    expect(Object.keys(manifest.files).filter((f) => f.startsWith('stage2/')).sort()).toEqual(['stage2/tensors.bin', 'stage2/tensors.json']);
    expect(manifest.stage2).toMatchObject({ dir: 'stage2', epoch: 2 });
    const user = path.join(withStage2, 'user');
    mkdirSync(user, { recursive: true });
    const run = runT2i(['generate', 'a red flower', '--n', '2', '--out', 'both'], env, user);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('Stage II epoch 2');
    expect(run.stderr).not.toContain('upscaled');
    const pixels = async (name: string) => new Uint8Array(await sharp(path.join(user, 'both', name)).removeAlpha().raw().toBuffer());
    const upscaled = await upscaleImages(await pixels('image-1-64.png'), 1, 64, 256);
    expect(Buffer.from(await pixels('image-1-256.png')).equals(Buffer.from(upscaled))).toBe(false);
    await shipTinyModels(withStage2);
    expect(verifyShipped(shipped)!.stage2).toBeUndefined();
    expect(readdirSync(shipped).sort()).toEqual(['encoder', 'manifest.json', 'stage1']);
  });
});

describe('stage2Verdict', () => {
  const row = (fid: number, r: number, distance?: number) => ({ fid: { value: fid }, rPrecision: { mean: r }, detail: distance === undefined ? { notApplicable: 'n/a' } : { distance } });
  const scores = (stage2: ReturnType<typeof row> & { epoch?: number; stage1Epoch?: number }) => ({ stages: { stage1: row(20, 0.5), stage1Upscaled: row(21, 0.5, 1.5), stage2 } });

  it('ships a Stage II only when it beats the upscale on FID and detail, with R-precision no lower than Stage I', () => {
    expect(stage2Verdict(scores(row(19, 0.5, 1.2)))).toEqual({ ship: true, reason: 'Stage II beats Stage I upscaled: FID 19.000 against the upscale\'s 21.000, detail distance 1.200 against 1.500, R-precision 0.500 against Stage I\'s 0.500' });
    expect(stage2Verdict(scores(row(22, 0.5, 1.2)))).toEqual({ ship: false, reason: 'Stage II does not beat Stage I upscaled: FID 22.000 against the upscale\'s 21.000' });
    expect(stage2Verdict(scores(row(19, 0.49, 1.6))).reason).toBe('Stage II does not beat Stage I upscaled: detail distance 1.600 against 1.500, R-precision 0.490 against Stage I\'s 0.500');
  });

  it('says the image-by-image differences beside the verdict, where the scores have them, without changing it', () => {
    const paired = { stage2VsStage1: { rPrecision: { difference: -0.002, standardError: 0.003 } }, stage2VsStage1Upscaled: { fid: { difference: -0.87, standardError: 0.12 } } };
    const verdict = stage2Verdict({ ...scores(row(19, 0.49, 1.2)), paired });
    expect(verdict).toEqual({ ship: false, reason: "Stage II does not beat Stage I upscaled: R-precision 0.490 against Stage I's 0.500 (image by image: FID -0.870 ± 0.120 against the upscale, R-precision -0.002 ± 0.003 against Stage I)" });
  });

  it('ships none where the scores lack a row to compare', () => {
    for (const s of [null, {}, { stages: { stage1: row(20, 0.5) } }, scores(row(19, 0.6))]) expect(stage2Verdict(s).ship).toBe(false);
  });

  it('refuses scores of another Stage II than the generator to ship: another epoch, or trained on another Stage I', () => {
    const scored = scores({ ...row(19, 0.5, 1.2), epoch: 1, stage1Epoch: 78 });
    expect(stage2Verdict(scored, { epoch: 1, stage1Epoch: 78 }).ship).toBe(true);
    expect(stage2Verdict(scored, { epoch: 1, stage1Epoch: 90 })).toEqual({ ship: false, stale: true, reason: "the run's scores are of a Stage II trained on Stage I epoch 78, its generator on epoch 90; run evaluate on it again" });
    expect(stage2Verdict(scored, { epoch: 2, stage1Epoch: 78 })).toEqual({ ship: false, stale: true, reason: "the run's scores are of Stage II at epoch 1, its generator is at epoch 2; run evaluate on it again" });
    // Scores written before evaluate recorded the Stage I under a Stage II are judged as they are.
    expect(stage2Verdict(scores({ ...row(19, 0.5, 1.2), epoch: 1 }), { epoch: 1, stage1Epoch: 90 }).ship).toBe(true);
  });
});

describe('stage1Verdict', () => {
  const shipped = stage1Scores(17.18, 15.22, 0.048, 0.222);

  it('replaces the shipped Stage I only with one no further from its own FID floor and no lower in class top-1 and top-5', () => {
    // A higher FID against a higher floor is the better ratio: each evaluate has its own classifier.
    expect(stage1Verdict(stage1Scores(18, 16.5, 0.05, 0.23), shipped)).toEqual({
      ship: true,
      reason: 'Stage I is no worse than the shipped one: FID 1.091x its floor against 1.129x, class top-1 5.0% against 4.8%, class top-5 23.0% against 22.2%',
    });
    expect(stage1Verdict(shipped, shipped).ship).toBe(true);
    expect(stage1Verdict(stage1Scores(17.18, 15, 0.05, 0.23), shipped)).toEqual({ ship: false, reason: 'Stage I scores worse than the shipped one: FID 1.145x its floor against 1.129x' });
    expect(stage1Verdict(stage1Scores(16, 15.22, 0.047, 0.221), shipped).reason).toBe('Stage I scores worse than the shipped one: class top-1 4.7% against 4.8%, class top-5 22.1% against 22.2%');
  });

  it('ships over unscored models, and refuses an unscored run where scored models ship', () => {
    expect(stage1Verdict(null, undefined).ship).toBe(true);
    expect(stage1Verdict(null, null).ship).toBe(true);
    expect(stage1Verdict(stage1Scores(30, 15, 0, 0), {}).ship).toBe(true);
    expect(stage1Verdict(null, shipped)).toEqual({ ship: false, reason: 'the run has no Stage I scores to compare with the shipped ones; run evaluate on it first' });
  });

  it("refuses scores of another epoch than the generator's", () => {
    expect(stage1Verdict(stage1Scores(16, 15.22, 0.05, 0.23, 60), shipped, 68)).toEqual({ ship: false, stale: true, reason: "the run's scores are of Stage I at epoch 60, its generator is at epoch 68; run evaluate on it again" });
    expect(stage1Verdict(stage1Scores(16, 15.22, 0.05, 0.23, 68), shipped, 68).ship).toBe(true);
  });
});
