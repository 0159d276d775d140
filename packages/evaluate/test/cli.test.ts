import { readTable } from '@t2i/core';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDataset, removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { runCli, runT2i as t2i } from '../../../test/helpers/run.ts';
import { checkPage } from './chromium.ts';

/** Tiny models trained through the CLIs on 12 real images, then generation and evaluation on them. */
describe('generate and evaluate end to end', () => {
  const data = makeDataset({ classes: [1, 5, 26, 54], perClass: 3 });
  const artifacts = tempDir();
  const user = tempDir('t2i-user-');
  const env = { T2I_DATA: data, T2I_ARTIFACTS: artifacts, T2I_BACKEND: 'wasm' };
  afterAll(() => [data, artifacts, user].forEach(removeDir));
  const sentence = 'this flower has petals that are blue and white zorblax';

  it('says which command to run while no model is trained and none ships', () => {
    // The repository's own models/ would be drawn with: point at a folder without any.
    const noModels = { ...env, T2I_MODELS: path.join(artifacts, 'no-shipped-models') };
    const none = t2i(['generate', sentence], noModels, user);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no trained model: encoder .*, stage1 .*, stage2 .* missing\. Run `pnpm turbo run stage2` first\.\n/);
    const s1 = t2i(['generate', sentence, '--stage', '1'], noModels, user);
    expect(s1.stderr).toMatch(/Run `pnpm turbo run stage1` first\./);
    expect(s1.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an empty sentence and a seed the RNG would wrap, saying why', () => {
    const blank = t2i(['generate', '   '], env, user);
    expect(blank.code).toBe(1);
    expect(blank.stderr).toMatch(/t2i generate: the sentence is empty/);
    const seed = t2i(['generate', sentence, '--seed', String(2 ** 32 + 1)], env, user);
    expect(seed.stderr).toMatch(/--seed: Too big: expected number to be <=4294967295/);
  });

  it(
    'trains tiny models, then writes reproducible 64 and 256 PNGs for any sentence',
    () => {
      for (const [pkg, args] of [
        ['preprocess-images', []],
        ['captions', []],
        ['embeddings', ['--epochs', '1', '--batch-size', '2']],
        ['stage1', ['train', '--epochs', '1', '--batch-size', '2', '--ngf', '4', '--ndf', '2']],
      ] as const) {
        const run = runCli(pkg, [...args], env);
        expect(run.code, `${pkg}: ${run.stderr}`).toBe(0);
      }
      const only1 = t2i(['generate', sentence, '--n', '2', '--stage', '1', '--out', 'low'], env, user);
      expect(only1.code, only1.stderr).toBe(0);
      expect(readdirSync(path.join(user, 'low')).sort()).toEqual(['all-64.png', 'image-1-64.png', 'image-2-64.png']);
      // Fewer images into the same folder: the earlier run's image-2 goes, not left beside them.
      expect(t2i(['generate', sentence, '--n', '1', '--stage', '1', '--out', 'low'], env, user).code).toBe(0);
      expect(readdirSync(path.join(user, 'low')).sort()).toEqual(['all-64.png', 'image-1-64.png']);
      expect(t2i(['generate', sentence], env, user).stderr).toMatch(/stage2 \(.*\) missing\. Run `pnpm turbo run stage2` first/);

      // At the tiny config's 1e-3, three steps leave Stage II painting one flat image whatever
      // the noise; the seed checks below need a generator that still reads its noise.
      const s2 = runCli('stage2', ['train', '--epochs', '1', '--batch-size', '2', '--ngf', '4', '--ndf', '2', '--residual-blocks', '1', '--learning-rate', '0.0002'], env);
      expect(s2.code, s2.stderr).toBe(0);
      const first = t2i(['generate', sentence, '--n', '3', '--seed', '7', '--out', 'a'], env, user);
      expect(first.code, first.stderr).toBe(0);
      // The 6 training images' captions never say "blue": it is unknown here too.
      expect(first.stderr).toMatch(/unknown words \(read as <unk>\): .*zorblax/);
      const files = first.stdout.trim().split('\n');
      expect(files).toHaveLength(8);
      expect(files).toContain(path.join(user, 'a', 'image-3-256.png'));
      const again = t2i(['generate', sentence, '--n', '3', '--seed', '7', '--out', 'b'], env, user);
      const other = t2i(['generate', sentence, '--n', '3', '--seed', '8', '--out', 'c'], env, user);
      for (const name of ['image-1-64.png', 'image-3-256.png']) {
        expect(readFileSync(path.join(user, 'b', name)).equals(readFileSync(path.join(user, 'a', name))), name).toBe(true);
        expect(readFileSync(path.join(user, 'c', name)).equals(readFileSync(path.join(user, 'a', name))), name).toBe(false);
      }
      expect([again.code, other.code]).toEqual([0, 0]);

      // The encoder retrained (same size, other vectors: another seed) after the generators:
      // refused, not drawn from. The same training again would make the same vectors, and pass.
      expect(runCli('embeddings', ['--epochs', '1', '--batch-size', '2', '--restart', '--seed', '2'], env).code).toBe(0);
      const stale = t2i(['generate', sentence, '--n', '1', '--out', 'd'], env, user);
      expect(stale.code).toBe(1);
      expect(stale.stderr).toMatch(/sentence vectors of different encoder trainings \(encoder \w{8}, Stage I \w{8}, Stage II \w{8}\): the encoder was retrained after the models that read it; retrain what came after embeddings: pnpm turbo run stage2/);
    },
    600_000,
  );

  it(
    'scores both stages and writes a report that loads in Chromium',
    async () => {
      const run = runCli('evaluate', ['--classifier-epochs', '2', '--captions-per-image', '2', '--splits', '3'], env);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/classifier: 4 classes, 3 training images; held-out \(tstid, 9 images\)/);
      expect(run.stderr).toMatch(/stage1 \(64x64, epoch 1, 12 images\): IS [\d.]+ ± [\d.]+, FID [\d.]+ ± [\d.]+, R-precision/);
      expect(run.stderr).toMatch(/paired, stage2VsStage1Upscaled: FID [+-][\d.]+ ± [\d.]+, R-precision [+-][\d.]+ ± [\d.]+ \(right only for Stage II: \d+, only for the baseline: \d+\)/);
      expect(run.stderr).toMatch(/stage2 \(256x256, epoch 1, 12 images\).*detail distance [\d.]+, fine-detail ratio [\d.]+/);
      expect(run.stderr).toMatch(/stage1Upscaled \(256x256, epoch 1, 12 images\)/);
      const out = path.join(artifacts, 'evaluate');
      const scores = JSON.parse(readFileSync(path.join(out, 'scores.json'), 'utf8'));
      expect(scores.stages.stage2.size).toBe(256);
      // Which Stage I the Stage II was trained on, for ship-models to tell stale scores.
      expect([scores.stages.stage2.epoch, scores.stages.stage2.stage1Epoch, scores.stages.stage1.stage1Epoch]).toEqual([1, 1, undefined]);
      // tiny's departures from StackGAN, named beside its scores.
      expect(scores.stages.stage2.model).toMatch(/^1 residual block, ngf 4, ndf 2, input skip, consistency 50; config tiny, epoch 1 of 1/);
      // The baseline: Stage I's images at 256, scored as Stage II's, detail included; Stage I's own detail is n/a.
      expect(Object.keys(scores.stages)).toEqual(['stage1', 'stage1Upscaled', 'stage2']);
      expect([scores.stages.stage1Upscaled.stage, scores.stages.stage1Upscaled.size, scores.stages.stage1Upscaled.images]).toEqual([1, 256, 12]);
      expect(scores.stages.stage1Upscaled.detail.distance).toBeGreaterThanOrEqual(0);
      expect(scores.stages.stage1.detail.notApplicable).toMatch(/n\/a/);
      expect(scores.real.detail.images).toBe(6);
      expect(scores.stages.stage1.inceptionScore.protocol).toMatch(/inception_score\.py/);
      // 2 test classes x 3 images x 2 captions: each image has 3 x 10 captions of the other class.
      expect(scores.stages.stage1.rPrecision.candidates).toBe(31);
      expect(scores.stages.stage1.rPrecision.protocol).toMatch(/Only 30 captions of other test classes exist here/);
      expect(scores.real.fidTrainVsTest.value).toBeGreaterThan(0);
      // 12 images in three interleaved parts: FID's jackknife over them, and Stage II's FID against each baseline's.
      expect(scores.stages.stage1.fid.standardError).toBeGreaterThan(0);
      expect(scores.stages.stage1.fid.protocol).toMatch(/each of 3 interleaved parts/);
      expect(scores.paired.stage2VsStage1.fid.difference).toBeCloseTo(scores.stages.stage2.fid.value - scores.stages.stage1.fid.value, 9);
      const table = await readTable(path.join(out, 'scores.arrow'));
      expect(table.numRows).toBe(36);
      expect(new Set(table.getChild('stage')!.toArray())).toEqual(new Set([1, 2]));
      expect(new Set(table.getChild('image_set')!.toArray())).toEqual(new Set(['stage1', 'stage1Upscaled', 'stage2']));
      const check = await checkPage(path.join(out, 'report.html'));
      expect(check.broken).toEqual([]);
      expect(check.images).toBeGreaterThan(10);
      expect(check.scoresTable).toBe(true);

      const cached = runCli('evaluate', ['--classifier-epochs', '2', '--captions-per-image', '2', '--splits', '3'], env);
      expect(cached.stderr).toMatch(/classifier: cached in .* not retrained/);
      expect(existsSync(path.join(out, 'report', 'reference-256.png'))).toBe(true);
    },
    300_000,
  );

  it('prints --help for evaluate and each t2i command', () => {
    expect(runCli('evaluate', ['--help']).stdout).toMatch(/Usage: evaluate \[options\][\s\S]*--classifier-epochs/);
    for (const sub of ['generate', 'sample', 'serve', 'fetch-dataset']) expect(t2i([sub, '--help'], {}, user).stdout).toMatch(new RegExp(`Usage: t2i ${sub} `));
    // `t2i evaluate` runs evaluate's own command.
    expect(t2i(['evaluate', '--help'], {}, user).stdout).toMatch(/Usage: evaluate \[options\][\s\S]*--classifier-epochs/);
  });
});
