import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseOptions, userArgs } from '../src/index.ts';

describe('command lines', () => {
  it("drops the `--` pnpm 10 passes on (`pnpm --filter stage1 train -- --config full`), the first only", () => {
    expect(userArgs(['node', 'cli.ts', 'train', '--', '--config', 'full'])).toEqual(['train', '--config', 'full']);
    expect(userArgs(['node', 'cli.ts', '--', 'generate', '--', '-a sentence'])).toEqual(['generate', '--', '-a sentence']);
    expect(userArgs(['node', 'cli.ts', '--min-count', '2'])).toEqual(['--min-count', '2']);
  });

  it('names a bad flag as it is typed, with the way to help', () => {
    expect(() => parseOptions(z.object({ minCount: z.coerce.number().int() }), { minCount: 'x' }, 'captions')).toThrow(/^captions: invalid options\n {2}--min-count: .*\nSee captions --help\.$/);
  });
});
