import { tf } from '@t2i/backends';
import type { GanTrainingConfig } from './config.ts';
import { ganSetting } from './switches.ts';
import { Dense, type Normalisation, type Scope } from './layers.ts';

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
