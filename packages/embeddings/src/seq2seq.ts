import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { addGru, runGru, type Gru } from './gru.ts';
import { l2normalize } from './text-encoder.ts';

export interface Seq2SeqShape {
  vocabSize: number;
  wordDim: number;
  hidden: number;
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
    this.words = s.add('words', [vocabSize, wordDim], { kind: 'normal', std: 0.1 });
    this.enc = addGru(s, 'encoder', wordDim, hidden);
    this.dec = addGru(s, 'decoder', wordDim, hidden);
    this.out = s.add('out', [hidden, vocabSize], { kind: 'glorot' });
    this.outBias = s.add('outBias', [vocabSize], { kind: 'zeros' });
  }

  /** Runs a GRU over the words of [batch, length] tokens; where mask is 0 the state is carried unchanged. */
  private run(gru: Gru, tokens: tf.Tensor2D, mask: tf.Tensor2D, h0: tf.Tensor2D): tf.Tensor2D[] {
    return runGru(gru, tf.gather(this.words, tokens) as tf.Tensor3D, mask, h0);
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
