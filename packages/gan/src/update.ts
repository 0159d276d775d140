import { tf } from '@t2i/backends';
import type { Adam } from './adam.ts';
import type { Losses } from './losses.ts';
import { StepRunner } from './training.ts';

/**
 * One network's side of a training step: its loss minimised over its variables inside tf.tidy,
 * the live tensor count checked (StepRunner). `prefix` names the logged losses: d_loss, d_real, ...
 */
export class NetworkUpdate {
  private readonly runner: StepRunner;

  constructor(
    private readonly prefix: string,
    readonly optimizer: Adam,
    private readonly vars: tf.Variable[],
    /** Steps that may still allocate: Adam makes its slots on its first update. */
    warmup: number,
  ) {
    this.runner = new StepRunner(warmup);
  }

  /** The loss and its terms, kept for the read-back; `carried`: tensors held over from the previous step. */
  step(losses: () => Losses, carried?: tf.TensorContainer): Record<string, tf.Scalar> {
    return this.runner.run(() => {
      let parts: Record<string, tf.Scalar> = {};
      const cost = this.optimizer.minimize(
        () => {
          const l = losses();
          // The terms outlive the gradient tape's tidy so that they can be logged.
          parts = Object.fromEntries(Object.entries(l.parts).map(([k, v]) => [`${this.prefix}_${k}`, tf.keep(v)]));
          return l.total;
        },
        true,
        this.vars,
      )!;
      return { [`${this.prefix}_loss`]: cost, ...parts };
    }, carried);
  }
}
