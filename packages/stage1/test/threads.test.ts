import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.join(import.meta.dirname, 'thread-step.ts');

/** The step script's output at `threads`; it must also exit by itself (the pool's workers must not hold it). */
async function step(threads: number) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', script, String(threads)], { timeout: 100_000, maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as { threads: number; losses: Record<string, number>; gradients: Record<string, number[]> };
}

describe('the wasm backend on several threads', () => {
  it('gives Stage I the same losses and gradients on 1 and 2 threads, up to float rounding, and exits when done training', async () => {
    const [one, two] = await Promise.all([step(1), step(2)]);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.losses.d).toBeCloseTo(one.losses.d, 4);
    expect(two.losses.g).toBeCloseTo(one.losses.g, 4);
    expect(Object.keys(two.gradients)).toEqual(Object.keys(one.gradients));
    // Each variable's gradient against its own scale, floored at a thousandth of the largest: a
    // gradient that is zero in exact arithmetic is rounding either way.
    const maxAbs = (values: number[]) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const largest = Math.max(...Object.values(one.gradients).map(maxAbs));
    for (const [name, values] of Object.entries(one.gradients)) {
      const scale = Math.max(1e-3 * largest, maxAbs(values));
      const diff = maxAbs(values.map((v, i) => v - two.gradients[name][i]));
      expect(diff / scale, name).toBeLessThan(1e-4);
    }
  }, 120_000);
});
