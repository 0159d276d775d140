import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDataset, removeDir, tempDir } from './helpers/dataset.ts';
import { runCli } from './helpers/run.ts';

/** The whole pipeline as far as it exists, through the CLIs, on a few real images. */
describe('pipeline end to end', () => {
  const data = makeDataset({ classes: [1, 5, 26, 54], perClass: 3 });
  const artifacts = tempDir();
  // wasm: the cpu backend's conv gradients are far too slow even for a tiny GAN.
  const env = { T2I_DATA: data, T2I_ARTIFACTS: artifacts, T2I_BACKEND: 'wasm' };
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

  it('embeddings, stage1 and sampling a new sentence, with tiny configs', () => {
    const emb = runCli('embeddings', ['--epochs', '2', '--batch-size', '2'], env);
    expect(emb.code, emb.stderr).toBe(0);
    expect(emb.stderr).toMatch(/backend: wasm/);
    expect(emb.stderr).toMatch(/embeddings test \(2 classes, 6 images\): zero-shot top-1/);
    const scores = JSON.parse(readFileSync(path.join(artifacts, 'embeddings', 'scores.json'), 'utf8'));
    expect(scores.quality[0].split).toBe('test');

    const s1 = runCli('stage1', ['train', '--epochs', '2', '--batch-size', '2', '--ngf', '4', '--ndf', '2', '--checkpoint-every', '1'], env);
    expect(s1.code, s1.stderr).toBe(0);
    for (const f of ['grids/epoch-0001.png', 'grids/epoch-0002.png', 'grid-latest.png', 'generator/tensors.json', 'metrics.jsonl']) expect(existsSync(path.join(artifacts, 'stage1', f)), f).toBe(true);
    // A second run with more epochs resumes instead of starting over.
    const more = runCli('stage1', ['train', '--epochs', '3', '--batch-size', '2', '--ngf', '4', '--ndf', '2', '--checkpoint-every', '1'], env);
    expect(more.stderr).toMatch(/resuming after epoch 2/);

    const out = path.join(artifacts, 'samples');
    const sample = runCli('t2i', ['sample', '--stage', '1', '--text', 'a zorblax flower with blue petals', '--n', '3', '--out', out], env);
    expect(sample.code, sample.stderr).toBe(0);
    expect(sample.stderr).toMatch(/unknown words \(read as <unk>\): zorblax/);
    expect(sample.stdout.trim().split('\n')).toEqual([1, 2, 3].map((i) => path.join(out, `image-${i}.png`)).concat(path.join(out, 'all.png')));
    // A second run into the same folder replaces the first's pictures rather than adding to them.
    expect(runCli('t2i', ['sample', '--stage', '1', '--text', 'a red flower', '--n', '1', '--out', out], env).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['all.png', 'image-1.png']);
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

  it('prints --help for every step', () => {
    for (const pkg of ['preprocess-images', 'captions', 'embeddings']) {
      const help = runCli(pkg, ['--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Usage: /);
      // Only the steps that read the dataset take --data.
      if (pkg === 'embeddings') expect(help.stdout).not.toMatch(/--data/);
      else expect(help.stdout).toMatch(/--data <dir>/);
    }
    expect(runCli('stage1', ['train', '--help']).stdout).toMatch(/Usage: stage1 train /);
    expect(runCli('t2i', ['sample', '--help']).stdout).toMatch(/Usage: t2i sample /);
    // As `pnpm --filter <stage> <script> -- --help` passes it (pnpm 10 keeps the `--`).
    expect(runCli('captions', ['--', '--help']).stdout).toMatch(/Usage: captions /);
    expect(runCli('stage1', ['train', '--', '--help']).stdout).toMatch(/Usage: stage1 train /);
  });
});
