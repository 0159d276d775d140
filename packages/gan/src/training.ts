import { appendFileSync, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { DivergedError, writeFileAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';

/**
 * Runs each training step inside tf.tidy and fails loudly when the number of live tensors grows
 * from one step to the next: a leak that would otherwise end a long run out of memory hours in.
 * The first `warmup` steps may allocate (optimizer slots appear on the first update).
 */
export class StepRunner {
  private baseline: number | undefined;
  private steps = 0;

  constructor(private readonly warmup = 1) {}

  /** `carried`: tensors the caller holds from one step into the next (not a leak). */
  run<T extends tf.TensorContainer>(step: () => T, carried?: tf.TensorContainer): T {
    const result = tf.tidy(step);
    this.check(result, carried);
    return result;
  }

  /** For steps that must await (webgpu reads): the caller tidies, this checks. */
  check(result?: tf.TensorContainer, carried?: tf.TensorContainer): void {
    this.steps++;
    const live = tf.memory().numTensors - countTensors(result) - countTensors(carried);
    if (this.steps <= this.warmup) {
      this.baseline = live;
      return;
    }
    if (live > this.baseline!) {
      throw new Error(`tensor leak: ${live - this.baseline!} more live tensors after step ${this.steps} than after step ${this.warmup} (${live} vs ${this.baseline}); some op in the step runs outside tf.tidy or a result is never disposed`);
    }
  }
}

function countTensors(value: tf.TensorContainer | undefined): number {
  if (value instanceof tf.Tensor) return 1;
  if (Array.isArray(value)) return value.reduce<number>((n, v) => n + countTensors(v), 0);
  if (value && typeof value === 'object') return Object.values(value).reduce<number>((n, v) => n + countTensors(v as tf.TensorContainer), 0);
  return 0;
}

/**
 * Training metrics as JSON lines, one object per logged step, appended as they come. On resume,
 * lines past the checkpoint's step (from the run that was killed) are dropped first, so the log
 * reads as one uninterrupted run.
 */
export class MetricsLog {
  constructor(readonly file: string) {}

  async resumeAt(step: number): Promise<void> {
    if (!existsSync(this.file)) return;
    const kept = (await fs.readFile(this.file, 'utf8'))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .filter((line) => {
        try {
          return (JSON.parse(line) as { step: number }).step <= step;
        } catch {
          return false;
        }
      });
    await writeFileAtomic(this.file, kept.map((l) => l + '\n').join(''));
  }

  async reset(): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, '');
  }

  append(record: { step: number } & Record<string, number | string>): void {
    appendFileSync(this.file, JSON.stringify(record) + '\n');
  }
}

/** What a diverged run's message ends with. */
export const DIVERGED_FIX = 'nothing of this run was checkpointed since; run again with a lower --learning-rate to resume from the last checkpoint, or with --restart';

/** A NaN or infinite loss means the run has diverged: stop before it overwrites good checkpoints. */
export function assertFinite(losses: Record<string, number>, step: number): void {
  for (const [name, value] of Object.entries(losses)) {
    if (!Number.isFinite(value)) throw new DivergedError(`training diverged: ${name} is ${value} at step ${step}; ${DIVERGED_FIX}`);
  }
}
