import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { runCli } from '../../../test/helpers/run.ts';

describe('stage2 train without its upstream artifacts', () => {
  const artifacts = tempDir();
  afterAll(() => removeDir(artifacts));
  const touch = (file: string) => {
    mkdirSync(path.dirname(path.join(artifacts, file)), { recursive: true });
    writeFileSync(path.join(artifacts, file), '');
  };

  it('names the command that makes each missing one, before loading anything', () => {
    const expected: [string, string[]][] = [
      ['pnpm turbo run preprocess-images', ['preprocess-images/images-304.arrow']],
      ['pnpm turbo run embeddings', ['embeddings/embeddings.arrow', 'embeddings/reference.arrow']],
      ['pnpm turbo run stage1', ['stage1/generator/tensors.json']],
    ];
    for (const [command, made] of expected) {
      const run = runCli('stage2', ['train'], { T2I_ARTIFACTS: artifacts, T2I_BACKEND: 'cpu' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`It is made by \`${command}\`; run that first.`);
      // Failed before the backend was even chosen.
      expect(run.stderr).not.toMatch(/backend:/);
      made.forEach(touch);
    }
    expect(existsSync(path.join(artifacts, 'stage2'))).toBe(false);
  });
});
