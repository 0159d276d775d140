import { tf } from '@t2i/backends';
import type { GanTrainingConfig } from './config.ts';
import { ganSetting } from './switches.ts';
import { Conv2d, ConvBn, Dense, leakyRelu, replicate, type Mode, type Normalisation, type Scope } from './layers.ts';

/**
 * The normalisation after a discriminator's convs: batch norm, or layer norm in a WGAN-GP critic
 * (batch statistics would make each example's score, and so its gradient penalty, depend on the
 * rest of the batch).
 */
export const criticNormalisation = (config: Pick<GanTrainingConfig, 'loss'>): Normalisation => (ganSetting(config, 'loss') === 'wgan-gp' ? 'layer' : 'batch');

/**
 * The auxiliary classifier head (AC-GAN) of a discriminator whose image features have `features`
 * values an example: a dense layer to logits over `classes` training classes. None (and no
 * weights) unless the config's auxClassLoss is above 0.
 */
export function auxiliaryClassifier(s: Scope, config: Pick<GanTrainingConfig, 'auxClassLoss'>, features: number, classes: number): ((h: tf.Tensor4D) => tf.Tensor2D) | undefined {
  if (ganSetting(config, 'auxClassLoss') === 0) return undefined;
  if (classes < 2) throw new Error(`an auxiliary classifier needs the training classes to tell apart (${classes} given)`);
  const head = new Dense(s, 'd/classifier', features, classes);
  return (h) => head.apply(h.reshape([h.shape[0], features]));
}

/**
 * Where the text joins a discriminator (StackGAN's conditional logits, the same in both stages):
 * the text vector compressed to conditionDim with leaky ReLU and tiled over the 4x4 image
 * features, concatenated with them, a 1x1 conv with its normalisation and leaky ReLU, and a 4x4
 * conv to one logit. `logitName`: the logit conv's weight name (each stage's checkpoints keep theirs).
 */
export class ConditionedLogits {
  private readonly text: Dense;
  private readonly joint: ConvBn;
  private readonly logit: Conv2d;

  constructor(s: Scope, channels: number, textDim: number, conditionDim: number, norm: Normalisation, logitName: string) {
    this.text = new Dense(s, 'd/text', textDim, conditionDim);
    this.joint = new ConvBn(s, 'd/joint', channels + conditionDim, channels, 1, 1, norm);
    this.logit = new Conv2d(s, logitName, channels, 1, 4, 4, 'valid');
  }

  /** [n, 4, 4, channels] image features and [n, textDim] text vectors -> [n] logits. */
  apply(h: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D {
    const [n, hh, ww] = h.shape;
    const code = replicate(leakyRelu(this.text.apply(text)), hh, ww);
    const joint = this.joint.apply(tf.concat([h, code], 3), mode, 'leakyRelu');
    return this.logit.apply(joint).reshape([n]);
  }
}
