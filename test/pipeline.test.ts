import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDataset, removeDir, tempDir } from './helpers/dataset.ts';
import { runCli } from './helpers/run.ts';

/** The whole pipeline as far as it exists, through the CLIs, on a few real images. */
describe('pipeline end to end', () => {
  const data = makeDataset({ classes: [1, 5, 26, 54], perClass: 3 });
  const artifacts = tempDir();
  const env = { T2I_DATA: data, T2I_ARTIFACTS: artifacts };
  afterAll(() => [data, artifacts].forEach(removeDir));

  it('preprocess-images then captions', () => {
    const pre = runCli('preprocess-images', [], env);
    expect(pre.stderr).toMatch(/12 images \(train 6, test 6\)/);
    expect(pre.code).toBe(0);
    for (const f of ['images-76.arrow', 'images-304.arrow', 'manifest.json', 'skipped.json']) expect(existsSync(path.join(artifacts, 'preprocess-images', f))).toBe(true);
    const cap = runCli('captions', [], env);
    expect(cap.code).toBe(0);
    expect(cap.stderr).toMatch(/120 captions of 12 images/);
    const manifest = JSON.parse(readFileSync(path.join(artifacts, 'captions', 'manifest.json'), 'utf8'));
    expect(manifest.vocabSize).toBeGreaterThan(50);
  });

  it('explains bad input and a wrong dataset folder, exiting 1', () => {
    writeFileSync(path.join(data, 'text_c10/class_00005/image_05147.txt'), 'one\ntwo\n');
    const bad = runCli('captions', [], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/text_c10\/class_00005\/image_05147.txt: has 2 lines/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const missing = runCli('captions', ['--data', path.join(data, 'nope')], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such dataset folder/);
  });

  it('prints --help for every stage', () => {
    for (const pkg of ['preprocess-images', 'captions']) {
      const help = runCli(pkg, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Usage: /);
      expect(help.stdout).toMatch(/--data <dir>/);
    }
  });
});
