import type { ParamStore } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { l2normalize } from './text-encoder.ts';

/**
 * The joint model's image side, trained from scratch on 64x64 crops: four 4x4 stride-2
 * convolutions with leaky ReLU (64 -> 4 px, width doubling from `channels`), each followed by
 * `depth - 1` 3x3 convolutions of its width, then a global average and a linear map into the
 * sentence space, L2-normalised.
 */
export class ImageEncoder {
  private readonly convs: { w: tf.Variable; b: tf.Variable; stride: number }[] = [];
  private readonly out: tf.Variable;
  private readonly outBias: tf.Variable;

  constructor(store: ParamStore, channels: number, dim: number, depth = 1) {
    const s = store.scope('image');
    let inC = 3;
    for (let i = 0; i < 4; i++) {
      const outC = channels * 2 ** i;
      this.convs.push({ w: s.add(`conv${i + 1}`, [4, 4, inC, outC], { kind: 'glorot' }), b: s.add(`bias${i + 1}`, [outC], { kind: 'zeros' }), stride: 2 });
      for (let j = 1; j < depth; j++) {
        this.convs.push({ w: s.add(`conv${i + 1}_${j}`, [3, 3, outC, outC], { kind: 'glorot' }), b: s.add(`bias${i + 1}_${j}`, [outC], { kind: 'zeros' }), stride: 1 });
      }
      inC = outC;
    }
    this.out = s.add('out', [inC, dim], { kind: 'glorot' });
    this.outBias = s.add('outBias', [dim], { kind: 'zeros' });
  }

  /** images: [batch, 64, 64, 3] in [-1, 1]. Returns [batch, dim], unit length. */
  encode(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let h: tf.Tensor4D = images;
      for (const { w, b, stride } of this.convs) h = tf.leakyRelu(tf.conv2d(h, w as tf.Tensor4D, stride, 'same').add(b), 0.2) as tf.Tensor4D;
      const pooled = h.mean([1, 2]) as tf.Tensor2D;
      return l2normalize(pooled.matMul(this.out as tf.Tensor2D).add(this.outBias) as tf.Tensor2D);
    });
  }
}
