import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';

/** A gated recurrent unit's weights: input and state maps for the update, reset and candidate gates side by side. */
export interface Gru {
  wx: tf.Variable;
  wh: tf.Variable;
  b: tf.Variable;
  hidden: number;
}

export function addGru(scope: Pick<ParamStore, 'add'>, name: string, inputDim: number, hidden: number): Gru {
  return {
    wx: scope.add(`${name}/wx`, [inputDim, 3 * hidden], { kind: 'glorot' }),
    wh: scope.add(`${name}/wh`, [hidden, 3 * hidden], { kind: 'glorot' }),
    b: scope.add(`${name}/b`, [3 * hidden], { kind: 'zeros' }),
    hidden,
  };
}

/**
 * Runs a GRU over [batch, length, inputDim]; where mask [batch, length] is 0 the state is carried
 * unchanged, so padding after a caption leaves its last state as it was. Returns every step's state.
 */
export function runGru(gru: Gru, inputs: tf.Tensor3D, mask: tf.Tensor2D, h0: tf.Tensor2D): tf.Tensor2D[] {
  const [batch, length, inputDim] = inputs.shape;
  const H = gru.hidden;
  // The input side of all steps in one matrix product; only the state side is sequential.
  const x = inputs.reshape([batch * length, inputDim]).matMul(gru.wx).add(gru.b).reshape([batch, length, 3 * H]);
  const xs = tf.unstack(x, 1) as tf.Tensor2D[];
  const ms = tf.unstack(mask.expandDims(2), 1) as tf.Tensor2D[];
  const states: tf.Tensor2D[] = [];
  let h = h0;
  for (let t = 0; t < length; t++) {
    const [xz, xr, xn] = tf.split(xs[t], 3, 1);
    const [hz, hr, hn] = tf.split(h.matMul(gru.wh), 3, 1);
    const z = tf.sigmoid(xz.add(hz));
    const r = tf.sigmoid(xr.add(hr));
    const n = tf.tanh(xn.add(r.mul(hn)));
    const next = tf.sub(1, z).mul(n).add(z.mul(h)) as tf.Tensor2D;
    h = next.sub(h).mul(ms[t]).add(h) as tf.Tensor2D;
    states.push(h);
  }
  return states;
}
