import { UsageError } from '@t2i/core';
import { ADAM_MOMENTS, ADAM_WEIGHTS, tf } from '@t2i/backends';

type NamedTensor = { name: string; tensor: tf.Tensor };

type Step = (t: tf.Tensor) => tf.Tensor;

/**
 * The end of a chain of element-wise steps, each intermediate freed as soon as the next exists:
 * at most two tensors of the input's size are alive at once, where a tidy would keep the whole
 * chain to its end.
 */
function chain(first: () => tf.Tensor, ...rest: Step[]): tf.Tensor {
  let value = first();
  for (const step of rest) {
    const next = step(value);
    value.dispose();
    value = next;
  }
  return value;
}

// Adam's rules, each a chain: m += (g − m)(1 − β1); v += (g² − v)(1 − β2); w −= step · m / (√v + ε).
const firstMoment = (g: tf.Tensor, m: tf.Tensor, beta1: number) => chain(() => g.sub(m), (t) => t.mul(1 - beta1), (t) => t.add(m));
const secondMoment = (g: tf.Tensor, v: tf.Tensor, beta2: number) => chain(() => g.square(), (t) => t.sub(v), (t) => t.mul(1 - beta2), (t) => t.add(v));
const nextWeights = (w: tf.Tensor, m: tf.Tensor, v: tf.Tensor, step: number, epsilon: number) =>
  chain(() => v.sqrt(), (t) => t.add(epsilon), (t) => m.div(t), (t) => t.mul(-step), (t) => t.add(w));

function update(variable: tf.Variable, value: tf.Tensor): void {
  variable.assign(value);
  value.dispose();
}

/**
 * Flat updates where kernel calls are dear and memory is not (webgpu), per-variable ones elsewhere.
 * T2I_ADAM=flat or per-variable overrides it, to measure one against the other.
 */
export function flatAdamByDefault(): boolean {
  const chosen = process.env.T2I_ADAM;
  if (chosen !== undefined && chosen !== 'flat' && chosen !== 'per-variable') throw new UsageError(`T2I_ADAM is '${chosen}'; use flat or per-variable`);
  return chosen ? chosen === 'flat' : tf.getBackend() === 'webgpu';
}

/** Where each variable lies in the flat vectors of flat mode. */
type Layout = { name: string; shape: number[]; size: number }[];

const flatten = (tensors: tf.Tensor[]) => tf.tidy(() => tf.concat(tensors.map((t) => t.reshape([-1]))));

/** flatten's inverse: one tensor per layout entry, in its shape. */
const unflatten = (flat: tf.Tensor, layout: Layout) => tf.tidy(() => tf.split(flat, layout.map((l) => l.size)).map((part, i) => part.reshape(layout[i].shape)));

const hasKernel = (name: string) => tf.getKernel(name, tf.getBackend()) != null;

/** Flat mode's moments [m; v] after gradient g, as the per-variable `step` computes them: one kernel where the backend has it (@t2i/backends' webgpu/adam.ts). */
function nextMoments(g: tf.Tensor, moments: tf.Tensor, beta1: number, beta2: number): tf.Tensor {
  if (hasKernel(ADAM_MOMENTS)) return tf.engine().runKernel(ADAM_MOMENTS, { g, moments }, { beta1, beta2 } as never) as tf.Tensor;
  return tf.tidy(() => {
    const [m, v] = tf.unstack(moments);
    return tf.stack([firstMoment(g, m, beta1), secondMoment(g, v, beta2)]);
  });
}

/**
 * Flat mode's weight update from the new moments: a kernel a variable, reading its stretch of the
 * moments, where the backend has it; else all weights concatenated, updated and split back.
 */
function updateWeights(layout: Layout, moments: tf.Tensor, step: number, epsilon: number): void {
  const variables = layout.map(({ name }) => tf.engine().registeredVariables[name]);
  if (hasKernel(ADAM_WEIGHTS)) {
    let offset = 0;
    variables.forEach((variable, i) => {
      const w = tf.engine().runKernel(ADAM_WEIGHTS, { w: variable, moments }, { offset, step, epsilon } as never) as tf.Tensor;
      variable.assign(w);
      w.dispose();
      offset += layout[i].size;
    });
    return;
  }
  const updated = tf.tidy(() => {
    const [m, v] = tf.unstack(moments);
    return nextWeights(flatten(variables), m, v, step, epsilon);
  });
  unflatten(updated, layout).forEach((part, i) => {
    variables[i].assign(part);
    part.dispose();
  });
  updated.dispose();
}

/**
 * Adam (Kingma & Ba) in TensorFlow's form, the one the official StackGAN trained with:
 * lr_t = lr·√(1−β2^t)/(1−β1^t), w −= lr_t·m/(√v + ε).
 *
 * Why not tf.train.adam: it updates every variable inside one tidy, so each variable's ~11
 * temporaries live until the last variable is done: for Stage II's 47M-parameter discriminator
 * that is 2 GB on top of the weights, and wasm's heap stops at 4 GiB. Here each update frees its
 * temporaries as it goes, so the extra memory is two copies of the largest variable.
 *
 * `flat`: on a GPU each kernel call has a host-side cost comparable to a small kernel's run, and
 * per-variable updates are 12 calls a variable. Flat mode keeps both moments in one
 * [2, parameters] tensor and updates them at once from the gradients concatenated, then each
 * variable from its stretch of the moments: on webgpu one kernel for the moments and one a
 * variable (@t2i/backends' webgpu/adam.ts), for flat copies of the gradients (elsewhere, of the
 * weights too) in memory. Use it where memory is plentiful (webgpu); the per-variable mode is the
 * one that fits wasm's heap.
 *
 * The slots are named as tfjs names them (`<variable>/m`, `<variable>/v`, after the iteration
 * count), so ParamStore.optimizerState and restoreOptimizer read and write them unchanged, but
 * they are found by name rather than by position.
 */
export class Adam extends tf.Optimizer {
  private readonly slots = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  private readonly beta2: number;
  private readonly epsilon: number;
  readonly flat: boolean;
  private flatSlots: { layout: Layout; moments: tf.Variable } | undefined;

  constructor(
    public learningRate: number,
    private readonly beta1: number,
    { beta2 = 0.999, epsilon = 1e-8, flat = false }: { beta2?: number; epsilon?: number; flat?: boolean } = {},
  ) {
    super();
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.flat = flat;
  }

  static get className(): string {
    return 'T2IAdam';
  }

  override applyGradients(gradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(gradients) ? gradients : Object.entries(gradients).map(([name, tensor]) => ({ name, tensor }));
    const t = this.iterations + 1;
    const step = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const present = list.filter((x) => x.tensor != null);
    if (this.flat) {
      const { layout, moments } = this.flatSlot(present.map(({ name, tensor }) => ({ name, shape: tensor.shape, size: tensor.size })));
      const byName = new Map(present.map((x) => [x.name, x.tensor]));
      const g = flatten(layout.map(({ name }) => byName.get(name)!));
      const next = nextMoments(g, moments, this.beta1, this.beta2);
      g.dispose();
      moments.assign(next);
      next.dispose();
      updateWeights(layout, moments, step, this.epsilon);
    } else {
      for (const { name, tensor: g } of present) {
        const value = tf.engine().registeredVariables[name];
        const { m, v } = this.slot(name, value);
        const next = this.step(step, g, m, v, value);
        value.assign(next);
        next.dispose();
      }
    }
    this.incrementIterations();
  }

  /** Updates the moments m and v in place and returns the new weights. */
  private step(step: number, g: tf.Tensor, m: tf.Variable, v: tf.Variable, w: tf.Tensor): tf.Tensor {
    update(m, firstMoment(g, m, this.beta1));
    update(v, secondMoment(g, v, this.beta2));
    return nextWeights(w, m, v, step, this.epsilon);
  }

  private slot(name: string, value: tf.Variable) {
    let s = this.slots.get(name);
    if (!s) {
      // Inside tidy, or the zeros the variables start from would outlive their first update.
      s = tf.tidy(() => ({ m: tf.zerosLike(value).variable(false), v: tf.zerosLike(value).variable(false) }));
      this.slots.set(name, s);
    }
    return s;
  }

  /** Flat mode's moments, made on the first update from the per-variable ones setWeights restored (zeros where none). */
  private flatSlot(layout: Layout) {
    if (this.flatSlots) {
      if (this.flatSlots.layout.map((l) => l.name).join() !== layout.map((l) => l.name).join()) {
        throw new Error('Adam (flat): the variables to update differ from the first update\'s; use one optimizer per set of variables');
      }
      return this.flatSlots;
    }
    const gather = (slot: 'm' | 'v') => flatten(layout.map(({ name, shape }) => this.slots.get(name)?.[slot] ?? tf.zeros(shape)));
    this.flatSlots = { layout, moments: tf.tidy(() => tf.stack([gather('m'), gather('v')]).variable(false)) };
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
    return this.flatSlots;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    if (this.flatSlots) {
      // Fresh tensors cut from the flat moments, not variables: the caller disposes them.
      const { layout, moments } = this.flatSlots;
      const cut = (row: number, slot: string) => {
        const flat = tf.tidy(() => moments.gather(row));
        const parts = unflatten(flat, layout).map((tensor, i) => ({ name: `${layout[i].name}/${slot}`, tensor }));
        flat.dispose();
        return parts;
      };
      return [await this.saveIterations(), ...cut(0, 'm'), ...cut(1, 'v')];
    }
    const slots = [...this.slots];
    return [await this.saveIterations(), ...slots.map(([name, s]) => ({ name: `${name}/m`, tensor: s.m })), ...slots.map(([name, s]) => ({ name: `${name}/v`, tensor: s.v }))];
  }

  override async setWeights(weights: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weights);
    this.dispose();
    const byName = new Map(rest.map((w) => [w.name, w.tensor]));
    for (const [slotName, tensor] of byName) {
      if (!slotName.endsWith('/m')) continue;
      const name = slotName.slice(0, -2);
      const v = byName.get(`${name}/v`);
      if (!v) throw new Error(`Adam state: ${slotName} has no matching ${name}/v`);
      this.slots.set(name, { m: tensor.variable(false), v: v.variable(false) });
    }
  }

  override dispose(): void {
    for (const s of this.slots.values()) tf.dispose([s.m, s.v]);
    this.slots.clear();
    this.flatSlots?.moments.dispose();
    this.flatSlots = undefined;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, flat: this.flat };
  }
}
