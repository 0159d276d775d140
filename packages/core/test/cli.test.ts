import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { directRunStamp, ensureOutDir, parseOptions, stepDir, stepOutput, trainingFlags, userArgs } from '../src/index.ts';

const root = tempDir();
afterAll(() => removeDir(root));

describe('command lines', () => {
  it("drops the `--` pnpm 10 passes on (`pnpm --filter stage1 train -- --config full`), the first only", () => {
    expect(userArgs(['node', 'cli.ts', 'train', '--', '--config', 'full'])).toEqual(['train', '--config', 'full']);
    expect(userArgs(['node', 'cli.ts', '--', 'generate', '--', '-a sentence'])).toEqual(['generate', '--', '-a sentence']);
    expect(userArgs(['node', 'cli.ts', '--min-count', '2'])).toEqual(['--min-count', '2']);
  });

  it('makes the output folder before any work, and names an --out that cannot be one', async () => {
    const out = path.join(root, 'a', 'b');
    expect(await ensureOutDir(out)).toBe(out);
    const file = path.join(root, 'file');
    writeFileSync(file, '');
    await expect(ensureOutDir(file)).rejects.toThrow(`--out ${file}: a file is in the way of that folder; pass another --out`);
    await expect(ensureOutDir(path.join(file, 'below'))).rejects.toThrow(/a file is in the way/);
    mkdirSync(path.join(root, 'c'));
    await expect(ensureOutDir(path.join(root, 'c'))).resolves.toBe(path.join(root, 'c'));
  });

  it("refuses an empty number flag (--epochs '', --seed '') rather than reading it as 0", () => {
    const flags = z.object(trainingFlags);
    expect(parseOptions(flags, { config: 'tiny', epochs: '3', seed: '0', restart: false }, 'stage1 train')).toMatchObject({ epochs: 3, seed: 0 });
    expect(parseOptions(flags, { config: 'tiny', restart: false }, 'stage1 train').seed).toBeUndefined();
    for (const bad of [{ epochs: '' }, { batchSize: ' ' }, { learningRate: '0' }, { seed: '' }, { seed: 'one' }, { seed: String(2 ** 32) }]) {
      expect(() => parseOptions(flags, { config: 'tiny', restart: false, ...bad }, 'stage1 train')).toThrow(/stage1 train: invalid options/);
    }
    expect(() => parseOptions(flags, { config: 'tiny', restart: false, seed: '' }, 'stage1 train')).toThrow(/--seed: expected a number/);
  });

  it('names a bad flag as it is typed, with the way to help', () => {
    expect(() => parseOptions(z.object({ minCount: z.coerce.number().int() }), { minCount: 'x' }, 'captions')).toThrow(/^captions: invalid options\n {2}--min-count: .*\nSee captions --help\.$/);
  });
});

describe('direct runs', () => {
  it('a run into data/<step> outside turbo leaves the stamp turbo hashes; a run under turbo, or into another --out, does not', async () => {
    const saved = { artifacts: process.env.T2I_ARTIFACTS, hash: process.env.TURBO_HASH };
    process.env.T2I_ARTIFACTS = path.join(root, 'artifacts');
    try {
      delete process.env.TURBO_HASH;
      expect(await stepOutput('stage1', path.join(root, 'elsewhere'))).toBe(path.join(root, 'elsewhere'));
      expect(existsSync(directRunStamp('stage1'))).toBe(false);
      process.env.TURBO_HASH = '0123456789abcdef';
      expect(await stepOutput('stage1')).toBe(stepDir('stage1'));
      expect(existsSync(directRunStamp('stage1'))).toBe(false);
      delete process.env.TURBO_HASH;
      expect(await stepOutput('stage1')).toBe(stepDir('stage1'));
      expect(JSON.parse(readFileSync(directRunStamp('stage1'), 'utf8'))).toMatchObject({ stage: 'stage1', args: userArgs() });
      expect(directRunStamp('stage1')).toBe(path.join(root, 'artifacts', '.direct-runs', 'stage1.json'));
    } finally {
      for (const [key, value] of [['T2I_ARTIFACTS', saved.artifacts], ['TURBO_HASH', saved.hash]] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
