import { tf } from '@t2i/backends';
import { Dense, leakyRelu, type Scope } from './layers.ts';

/**
 * Conditioning augmentation (StackGAN section 3.1): the text vector phi goes through a fully
 * connected layer with leaky ReLU to (mu, log sigma) of a Gaussian; the condition is
 * c = mu + sigma * eps, eps ~ N(0, I). Sampling c, rather than using phi itself, gives the
 * generator many codes per caption and a smoother conditioning manifold.
 */
export class ConditioningAugmentation {
  private readonly fc: Dense;

  constructor(s: Scope, textDim: number, readonly conditionDim: number) {
    this.fc = new Dense(s, 'ca/fc', textDim, conditionDim * 2);
  }

  apply(text: tf.Tensor2D, eps: tf.Tensor2D): { c: tf.Tensor2D; mu: tf.Tensor2D; logSigma: tf.Tensor2D } {
    const h = leakyRelu(this.fc.apply(text));
    const mu = h.slice([0, 0], [-1, this.conditionDim]);
    const logSigma = h.slice([0, this.conditionDim], [-1, this.conditionDim]);
    return { c: mu.add(logSigma.exp().mul(eps)), mu, logSigma };
  }
}
