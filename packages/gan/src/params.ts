import type { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';

export type Init =
  | { kind: 'normal'; std: number; mean?: number; clip?: number }
  | { kind: 'glorot' }
  | { kind: 'zeros' }
  | { kind: 'ones' }
  /** Each row of a [rows, ...] weight initialised by its own rule (batch norm's packed γ and β). */
  | { kind: 'rows'; rows: Init[] };

/** Glorot-uniform limit from the fan-in and fan-out of a dense [in, out] or conv [kh, kw, in, out] weight. */
function glorotLimit(shape: number[]): number {
  const receptive = shape.length > 2 ? shape.slice(0, -2).reduce((a, b) => a * b, 1) : 1;
  const fanIn = shape[shape.length - 2] * receptive;
  const fanOut = shape[shape.length - 1] * receptive;
  return Math.sqrt(6 / (fanIn + fanOut));
}

function initialValues(shape: number[], init: Init, rng: Rng): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  switch (init.kind) {
    case 'zeros':
      break;
    case 'ones':
      values.fill(1);
      break;
    case 'glorot': {
      const limit = glorotLimit(shape);
      for (let i = 0; i < size; i++) values[i] = (rng.next() * 2 - 1) * limit;
      break;
    }
    case 'rows': {
      if (shape[0] !== init.rows.length) throw new Error(`${init.rows.length} row rules for a weight of ${shape[0]} rows`);
      const rowSize = size / init.rows.length;
      init.rows.forEach((row, r) => values.set(initialValues(shape.slice(1), row, rng), r * rowSize));
      break;
    }
    case 'normal': {
      const { std, mean = 0, clip } = init;
      for (let i = 0; i < size; i++) {
        let v = rng.normal() * std;
        // StackGAN's truncated normal: redraw values beyond `clip` standard deviations.
        while (clip !== undefined && Math.abs(v) > clip * std) v = rng.normal() * std;
        values[i] = mean + v;
      }
      break;
    }
  }
  return values;
}

/**
 * A model's trainable variables by name. Initial values come from a seeded JS RNG, not tfjs's
 * random ops, so a seed gives the same weights on every backend; names key the checkpoints.
 */
export class ParamStore {
  private static stores = 0;
  /** tfjs variable names are global to the process: each store prefixes its own. */
  private readonly prefix = `store${ParamStore.stores++}:`;
  readonly variables = new Map<string, tf.Variable>();

  constructor(private readonly rng: Rng) {}

  /** `trainable: false` for state that is saved but not optimised (batch norm's moving averages). */
  add(name: string, shape: number[], init: Init, trainable = true): tf.Variable {
    if (this.variables.has(name)) throw new Error(`parameter ${name} defined twice`);
    const initial = tf.tensor(initialValues(shape, init, this.rng), shape);
    const v = tf.variable(initial, trainable, this.prefix + name);
    initial.dispose();
    this.variables.set(name, v);
    return v;
  }

  /** The variables whose parameter names start with `prefix` (one model of several in a store). */
  listScope(prefix: string): tf.Variable[] {
    return [...this.variables].filter(([name]) => name.startsWith(`${prefix}/`)).map(([, v]) => v);
  }

  /** What an optimizer updates: the trainable variables under `prefix`, or all of them. */
  trainable(prefix?: string): tf.Variable[] {
    return (prefix ? this.listScope(prefix) : this.list()).filter((v) => v.trainable);
  }

  /** A store that prefixes names: one model's blocks share its store. */
  scope(prefix: string): Pick<ParamStore, 'add'> {
    return { add: (name, shape, init, trainable) => this.add(`${prefix}/${name}`, shape, init, trainable) };
  }

  list(): tf.Variable[] {
    return [...this.variables.values()];
  }

  count(): number {
    return this.list().reduce((n, v) => n + v.size, 0);
  }

  snapshot(): Record<string, tf.Tensor> {
    return Object.fromEntries(this.variables);
  }

  /** Why saved weights would not load into these variables (a name missing, a shape differing), or undefined if they would. */
  mismatch(saved: Record<string, tf.Tensor>): string | undefined {
    for (const [name, v] of this.variables) {
      const t = saved[name];
      if (!t) return `no weight ${name}`;
      if (t.shape.join() !== v.shape.join()) return `weight ${name} has shape [${t.shape}], the model expects [${v.shape}]`;
    }
    return undefined;
  }

  /** Copies saved values into the variables; every name must match in shape. */
  load(saved: Record<string, tf.Tensor>): void {
    const mismatch = this.mismatch(saved);
    if (mismatch) throw new Error(`checkpoint: ${mismatch}; was it written by another model, config or version of t2i?`);
    for (const [name, v] of this.variables) v.assign(saved[name]);
  }

  dispose(): void {
    tf.dispose(this.list());
    this.variables.clear();
  }

  /**
   * The optimizer's slots (Adam's moments, named `<variable>/m` by tfjs) under parameter names,
   * which stay the same from one process to the next, unlike tfjs's variable names. The
   * iteration count comes as a fresh tensor: the caller disposes the result's non-variables.
   */
  async optimizerState(optimizer: tf.Optimizer): Promise<Record<string, tf.Tensor>> {
    const byVariable = new Map([...this.variables].map(([name, v]) => [v.name, name]));
    return Object.fromEntries(
      (await optimizer.getWeights()).map((w) => {
        const cut = w.name.lastIndexOf('/');
        const param = cut > 0 ? byVariable.get(w.name.slice(0, cut)) : undefined;
        return [param ? `${param}${w.name.slice(cut)}` : w.name, w.tensor];
      }),
    );
  }

  async restoreOptimizer(optimizer: tf.Optimizer, saved: Record<string, tf.Tensor>): Promise<void> {
    const named = Object.entries(saved).map(([name, tensor]) => {
      const cut = name.lastIndexOf('/');
      const v = cut > 0 ? this.variables.get(name.slice(0, cut)) : undefined;
      return { name: v ? `${v.name}${name.slice(cut)}` : name, tensor };
    });
    await optimizer.setWeights(named);
  }
}
