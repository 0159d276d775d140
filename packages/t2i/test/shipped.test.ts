import { tf } from '@t2i/backends';
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { upscaleImages } from 'preprocess-images';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { runT2i } from '../../../test/helpers/run.ts';
import { describeModels, loadPipeline, locateModels, modelArtifacts } from '../src/pipeline.ts';
import { verifyShipped } from '../src/shipped.ts';
import { keepModelEnv, shipTinyModels } from './fixtures.ts';

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

  it('are float16, the text side of the encoder alone, and each file is listed with its size and sha256', () => {
    const manifest = verifyShipped(models)!;
    expect(Object.keys(manifest.files).sort()).toEqual(['encoder/tensors.bin', 'encoder/tensors.json', 'stage1/tensors.bin', 'stage1/tensors.json']);
    const entries = (dir: string) => JSON.parse(readFileSync(path.join(models, dir, 'tensors.json'), 'utf8')).tensors as { name: string; dtype: string }[];
    expect(entries('encoder').every((e) => e.name.startsWith('text/'))).toBe(true);
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
});
