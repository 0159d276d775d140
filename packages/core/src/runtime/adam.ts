import { tf } from './backend.ts';

type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * Sets a variable to the end of a chain of element-wise steps, freeing each intermediate as soon
 * as the next exists: at most two tensors of the variable's size are alive at once, where a tidy
 * would keep the whole chain to its end.
 */
function update(variable: tf.Variable, first: () => tf.Tensor, ...rest: ((t: tf.Tensor) => tf.Tensor)[]): void {
  let value = first();
  for (const step of rest) {
    const next = step(value);
    value.dispose();
    value = next;
  }
  variable.assign(value);
  value.dispose();
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
 * The slots are named as tfjs names them (`<variable>/m`, `<variable>/v`, after the iteration
 * count), so ParamStore.optimizerState and restoreOptimizer read and write them unchanged, but
 * they are found by name rather than by position.
 */
export class Adam extends tf.Optimizer {
  private readonly slots = new Map<string, { m: tf.Variable; v: tf.Variable }>();

  constructor(
    public learningRate: number,
    private readonly beta1: number,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    super();
  }

  static get className(): string {
    return 'T2IAdam';
  }

  override applyGradients(gradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list = Array.isArray(gradients) ? gradients : Object.entries(gradients).map(([name, tensor]) => ({ name, tensor }));
    const t = this.iterations + 1;
    const step = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    for (const { name, tensor: g } of list) {
      if (g == null) continue;
      const value = tf.engine().registeredVariables[name];
      const { m, v } = this.slot(name, value);
      // m += (g − m)(1 − β1); v += (g² − v)(1 − β2); w −= step · m / (√v + ε)
      update(m, () => g.sub(m), (t) => t.mul(1 - this.beta1), (t) => t.add(m));
      update(v, () => g.square(), (t) => t.sub(v), (t) => t.mul(1 - this.beta2), (t) => t.add(v));
      update(value, () => v.sqrt(), (t) => t.add(this.epsilon), (t) => m.div(t), (t) => t.mul(-step), (t) => t.add(value));
    }
    this.incrementIterations();
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

  override async getWeights(): Promise<NamedTensor[]> {
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
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}
