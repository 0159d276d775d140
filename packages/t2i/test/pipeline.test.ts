import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { modelArtifacts, requireModels } from '../src/pipeline.ts';

describe('the trained models', () => {
  it('offers --stage 1 when only the Stage II model is missing', () => {
    const saved = process.env.T2I_ARTIFACTS;
    process.env.T2I_ARTIFACTS = tempDir('t2i-models-');
    try {
      for (const a of [modelArtifacts().encoder, modelArtifacts().stage1]) {
        mkdirSync(path.dirname(a.file), { recursive: true });
        writeFileSync(a.file, '{}');
      }
      expect(() => requireModels(2)).toThrow(/stage2 .* missing\. Run `pnpm turbo run stage2` first, or pass --stage 1 for 64x64 images alone\./);
      expect(() => requireModels(1)).not.toThrow();
    } finally {
      removeDir(process.env.T2I_ARTIFACTS);
      if (saved === undefined) delete process.env.T2I_ARTIFACTS;
      else process.env.T2I_ARTIFACTS = saved;
    }
  });
});
