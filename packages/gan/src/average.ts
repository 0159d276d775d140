import { tf } from '@t2i/backends';
import type { ParamStore } from './params.ts';

/** Key prefix of the averages in a checkpoint's weights, beside the variables' own names. */
const KEY = 'average:';

/**
 * Polyak averaging: an exponential moving average of a store's variables, taken after each
 * update, which the trained model then uses instead of its last weights (they wander with a
 * constant learning rate; their average generalises better). Zero-started and bias-corrected,
 * as Adam's moments are, so that the random initial weights do not linger in it.
 */
export class WeightAverage {
  private readonly sums = new Map<string, tf.Variable>();
  /** Updates taken so far: the bias correction's exponent. */
  updates = 0;

  /** `scopes`: average only the variables under these (a GAN's generator, not its discriminator); absent, all of them. */
  constructor(
    private readonly store: ParamStore,
    readonly decay: number,
    scopes?: string[],
  ) {
    for (const [name, v] of store.variables) {
      if (!scopes || scopes.some((scope) => name.startsWith(`${scope}/`))) this.sums.set(name, tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
    }
  }

  update(): void {
    tf.tidy(() => {
      for (const [name, sum] of this.sums) sum.assign(sum.mul(this.decay).add(this.store.variables.get(name)!.mul(1 - this.decay)));
    });
    this.updates++;
  }

  /** The averaged weights by variable name (new tensors: the caller disposes them). */
  values(): Record<string, tf.Tensor> {
    const correction = 1 - this.decay ** this.updates;
    return Object.fromEntries([...this.sums].map(([name, sum]) => [name, this.updates === 0 ? this.store.variables.get(name)!.clone() : tf.tidy(() => sum.div(correction))]));
  }

  /** The running sums, to save in a checkpoint beside the variables (same tensors, not copies). */
  snapshot(): Record<string, tf.Tensor> {
    return Object.fromEntries([...this.sums].map(([name, sum]) => [KEY + name, sum]));
  }

  /** Takes back the sums a checkpoint saved with `snapshot`, after `updates` updates. */
  load(saved: Record<string, tf.Tensor>, updates: number): void {
    for (const [name, sum] of this.sums) {
      const t = saved[KEY + name];
      if (!t) throw new Error(`checkpoint: no average of ${name}, though its config averages the weights`);
      sum.assign(t);
    }
    this.updates = updates;
  }

  /** Puts the averaged weights into the store's variables: the model becomes its average. */
  apply(): void {
    const values = this.values();
    for (const [name, value] of Object.entries(values)) this.store.variables.get(name)!.assign(value);
    tf.dispose(Object.values(values));
  }

  /** Runs `use` with the averaged weights in the store's variables, then puts the trained ones back. */
  async whileApplied<T>(use: () => Promise<T>): Promise<T> {
    const trained = Object.fromEntries([...this.sums.keys()].map((name) => [name, this.store.variables.get(name)!.clone()]));
    this.apply();
    try {
      return await use();
    } finally {
      for (const [name, value] of Object.entries(trained)) this.store.variables.get(name)!.assign(value);
      tf.dispose(Object.values(trained));
    }
  }

  dispose(): void {
    tf.dispose([...this.sums.values()]);
    this.sums.clear();
  }
}
