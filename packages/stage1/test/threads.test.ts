import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.join(import.meta.dirname, 'thread-step.ts');

/** The step script's output at `threads`; it must also exit by itself (the pool's workers must not hold it). */
async function step(threads: number) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, String(threads)], { timeout: 100_000, maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as { threads: number; weights: Record<string, number[]> };
}

describe('the wasm backend on several threads', () => {
  it('trains Stage I to the same weights on 1 and 2 threads, up to float rounding, and exits when done', async () => {
    const [one, two] = await Promise.all([step(1), step(2)]);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(Object.keys(two.weights)).toEqual(Object.keys(one.weights));
    for (const [name, values] of Object.entries(one.weights)) {
      const scale = Math.max(1e-3, ...values.map(Math.abs));
      const diff = Math.max(...values.map((v, i) => Math.abs(v - two.weights[name][i])));
      expect(diff / scale, name).toBeLessThan(1e-4);
    }
  }, 120_000);
});
