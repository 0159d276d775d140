import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { addGru, runGru, type Gru } from './gru.ts';

export interface TextEncoderShape {
  vocabSize: number;
  wordDim: number;
  channels: number;
  dim: number;
  /** The convolutions' features are read by a GRU of this state size, whose states' mean (not the max over time) is the sentence. */
  gruHidden?: number;
}

/**
 * The joint model's text side: word embeddings, two width-3 1-D convolutions with ReLU, a max
 * over the caption's real tokens (padding masked out) and a linear map to the sentence space.
 * Recurrent (Reed et al.'s CNN-RNN, on words): a GRU reads the convolutions' features in order, and
 * the mean of its states over the real tokens takes the max's place, so that a colour can be read
 * with the part it names ("yellow petals, brown centre") beyond the convolutions' five tokens.
 * Vectors are L2-normalised: the contrastive loss compares directions, and the GANs then see
 * inputs of one scale.
 */
export class TextEncoder {
  private readonly p: Record<string, tf.Variable>;
  private readonly gru?: Gru;

  constructor(store: ParamStore, readonly shape: TextEncoderShape) {
    const s = store.scope('text');
    const { vocabSize, wordDim, channels, dim } = shape;
    this.p = {
      words: s.add('words', [vocabSize, wordDim], { kind: 'normal', std: 0.1 }),
      conv1: s.add('conv1', [3, wordDim, channels], { kind: 'glorot' }),
      bias1: s.add('bias1', [channels], { kind: 'zeros' }),
      conv2: s.add('conv2', [3, channels, channels], { kind: 'glorot' }),
      bias2: s.add('bias2', [channels], { kind: 'zeros' }),
      out: s.add('out', [shape.gruHidden ?? channels, dim], { kind: 'glorot' }),
      outBias: s.add('outBias', [dim], { kind: 'zeros' }),
    };
    if (shape.gruHidden) this.gru = addGru(s, 'gru', channels, shape.gruHidden);
  }

  /** tokens: [batch, length] int32, 0-padded. Returns [batch, dim], unit length. */
  encode(tokens: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const { p } = this;
      const mask = tokens.notEqual(0).cast('float32').expandDims(2) as tf.Tensor3D;
      // Padding is zeroed before each convolution, so a padded caption reads exactly like the
      // same caption unpadded (the convolutions' own 'same' padding is zeros too).
      const words = tf.gather(p.words, tokens).mul(mask) as tf.Tensor3D;
      const h1 = tf.relu(tf.conv1d(words, p.conv1 as tf.Tensor3D, 1, 'same').add(p.bias1)).mul(mask) as tf.Tensor3D;
      const h2 = tf.relu(tf.conv1d(h1, p.conv2 as tf.Tensor3D, 1, 'same').add(p.bias2));
      const pooled = this.gru ? meanOfStates(this.gru, h2.mul(mask) as tf.Tensor3D, mask) :
        // Padding gets a large negative value, so the max over time ignores it.
        maxOverTime(h2.mul(mask).add(mask.sub(1).mul(1e4)) as tf.Tensor3D);
      const v = pooled.matMul(p.out as tf.Tensor2D).add(p.outBias) as tf.Tensor2D;
      return l2normalize(v);
    });
  }
}

/** The mean of a GRU's states over the real tokens of [batch, length, channels] (mask [batch, length, 1]). */
function meanOfStates(gru: Gru, features: tf.Tensor3D, mask: tf.Tensor3D): tf.Tensor2D {
  const [batch] = features.shape;
  const states = tf.stack(runGru(gru, features, mask.squeeze([2]) as tf.Tensor2D, tf.zeros([batch, gru.hidden])), 1);
  return states.mul(mask).sum(1).div(mask.sum(1).maximum(1)) as tf.Tensor2D;
}

/**
 * The max over time of [batch, length, channels], whose gradient goes to the first position of each
 * maximum: tfjs's own gradient finds the maxima with a broadcast Equal that the wasm backend runs
 * 10x slower than this argmax and one-hot (547 against 58 ms for 320 captions). Ties at a positive
 * value, where tfjs would share the gradient, do not occur in practice after ReLU.
 */
export const maxOverTime = tf.customGrad(((h: tf.Tensor, save: tf.GradSaveFunc) => {
  save([h]);
  return {
    value: h.max(1),
    gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => {
      const [batch, length, channels] = saved.shape;
      const first = saved.transpose([0, 2, 1]).argMax(2).reshape([batch * channels]);
      return tf.oneHot(first, length).reshape([batch, channels, length]).transpose([0, 2, 1]).mul(dy.expandDims(1));
    },
  };
}) as never) as (h: tf.Tensor3D) => tf.Tensor2D;

/** The unit-length mean of each run of `k` consecutive rows: [n * k, dim] -> [n, dim]. */
export function averageCaptions(vectors: tf.Tensor2D, k: number): tf.Tensor2D {
  if (k === 1) return vectors;
  return tf.tidy(() => l2normalize(vectors.reshape([vectors.shape[0] / k, k, vectors.shape[1]]).mean(1) as tf.Tensor2D));
}

export function l2normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => x.div(x.square().sum(-1, true).add(1e-12).sqrt()) as T);
}
