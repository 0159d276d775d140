import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { l2normalize } from './text-encoder.ts';

export interface Seq2SeqShape {
  vocabSize: number;
  wordDim: number;
  hidden: number;
}

interface Gru {
  wx: tf.Variable;
  wh: tf.Variable;
  b: tf.Variable;
}

/**
 * The seed report's caption autoencoder: a GRU encoder reads the caption, a GRU decoder starts
 * from the encoder's final state and must reproduce the caption word by word (teacher forcing,
 * no attention, so everything the decoder knows passes through that one state). The sentence
 * vector is the encoder's final state, L2-normalised.
 */
export class Seq2Seq {
  private readonly words: tf.Variable;
  private readonly enc: Gru;
  private readonly dec: Gru;
  private readonly out: tf.Variable;
  private readonly outBias: tf.Variable;

  constructor(store: ParamStore, readonly shape: Seq2SeqShape) {
    const s = store.scope('seq2seq');
    const { vocabSize, wordDim, hidden } = shape;
    const gru = (name: string): Gru => ({
      wx: s.add(`${name}/wx`, [wordDim, 3 * hidden], { kind: 'glorot' }),
      wh: s.add(`${name}/wh`, [hidden, 3 * hidden], { kind: 'glorot' }),
      b: s.add(`${name}/b`, [3 * hidden], { kind: 'zeros' }),
    });
    this.words = s.add('words', [vocabSize, wordDim], { kind: 'normal', std: 0.1 });
    this.enc = gru('encoder');
    this.dec = gru('decoder');
    this.out = s.add('out', [hidden, vocabSize], { kind: 'glorot' });
    this.outBias = s.add('outBias', [vocabSize], { kind: 'zeros' });
  }

  /** Runs a GRU over [batch, length] tokens; where mask is 0 the state is carried unchanged. Returns every step's state. */
  private run(gru: Gru, tokens: tf.Tensor2D, mask: tf.Tensor2D, h0: tf.Tensor2D): tf.Tensor2D[] {
    const [batch, length] = tokens.shape;
    const H = this.shape.hidden;
    const x = tf.gather(this.words, tokens).reshape([batch * length, -1]).matMul(gru.wx).add(gru.b).reshape([batch, length, 3 * H]);
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

  /** The sentence vector: [batch, hidden], unit length. tokens are 0-padded. */
  encode(tokens: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => l2normalize(this.encoderState(tokens)));
  }

  private encoderState(tokens: tf.Tensor2D): tf.Tensor2D {
    const mask = tokens.notEqual(0).cast('float32') as tf.Tensor2D;
    const states = this.run(this.enc, tokens, mask, tf.zeros([tokens.shape[0], this.shape.hidden]));
    return states[states.length - 1];
  }

  /**
   * Next-token logits [batch, length, vocab] of the decoder reading `decoderInput` (<bos> then the
   * caption) from the encoder's final state on `tokens`.
   */
  reconstruct(tokens: tf.Tensor2D, decoderInput: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const ones = tf.onesLike(decoderInput).cast('float32') as tf.Tensor2D;
      const states = this.run(this.dec, decoderInput, ones, this.encoderState(tokens));
      const [batch, length] = decoderInput.shape;
      const h = tf.stack(states, 1).reshape([batch * length, this.shape.hidden]);
      return h.matMul(this.out).add(this.outBias).reshape([batch, length, this.shape.vocabSize]) as tf.Tensor3D;
    });
  }
}
