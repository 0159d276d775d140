import { tf } from '@t2i/backends';

/** One step's losses, read back: d_loss, d_real, ..., g_kl. */
export interface StepLosses {
  step: number;
  values: Record<string, number>;
}

type Pending = { step: number; names: string[]; values: tf.Tensor1D; read: Promise<tf.backend_util.TypedArray> };

/**
 * A step's losses are read back while the next step runs: one stacked read, started as soon as the
 * step is recorded and awaited after the next one is, so a GPU never idles waiting for the host to
 * record a step. A diverged step is therefore caught one step late, still before any checkpoint.
 */
export class LossReadback {
  private pending: Pending | undefined;

  /** What the queue holds from one step into the next: not a leak (StepRunner's `carried`). */
  get carried(): tf.Tensor | undefined {
    return this.pending?.values;
  }

  /** Starts reading this step's losses (and disposes them); returns the previous step's, read. */
  async push(parts: Record<string, tf.Scalar>, step: number): Promise<StepLosses | undefined> {
    const previous = this.pending;
    const values = tf.tidy(() => tf.stack(Object.values(parts)) as tf.Tensor1D);
    tf.dispose(Object.values(parts));
    const read = values.data();
    // Awaited later; a device lost meanwhile must not count as unhandled.
    read.catch(() => undefined);
    this.pending = { step, names: Object.keys(parts), values, read };
    return settle(previous);
  }

  /** The last step's losses, read. */
  async flush(): Promise<StepLosses | undefined> {
    const last = this.pending;
    this.pending = undefined;
    return settle(last);
  }

  /** Drops a read still pending (a failed epoch). */
  discard(): void {
    this.pending?.values.dispose();
    this.pending = undefined;
  }
}

async function settle(p: Pending | undefined): Promise<StepLosses | undefined> {
  if (!p) return undefined;
  try {
    const data = await p.read;
    return { step: p.step, values: Object.fromEntries(p.names.map((name, i) => [name, data[i]])) };
  } finally {
    p.values.dispose();
  }
}
