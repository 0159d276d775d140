import { numberFlag, optionalInt } from '@t2i/core';
import { z } from 'zod';
import { GAN_DEFAULTS, GAN_LOSSES, type GanSwitches } from './switches.ts';

/** What every StackGAN stage's config holds beside its networks' shapes: conditioning, schedule, checkpoints. */
export const ganTrainingFields = {
  /** Size of the conditioning-augmented text code c. */
  conditionDim: z.number().int().min(1),
  batchSize: z.number().int().min(2),
  epochs: z.number().int().min(0),
  learningRate: z.number().positive(),
  /** The learning rate halves every this many epochs. */
  lrDecayEpochs: z.number().int().min(1),
  beta1: z.number().min(0).max(1),
  /** Adam's β2; absent, TensorFlow's 0.999 (WGAN-GP trains with 0.9). */
  beta2: z.number().min(0).max(1).optional(),
  /** Weight of the conditioning augmentation's KL term in the generator loss. */
  klWeight: z.number().min(0),
  /** Each training example's text vector is the mean of this many of its image's captions, drawn afresh. */
  captionsPerExample: z.number().int().min(1).max(10),
  checkpointEvery: z.number().int().min(1),
  keepCheckpoints: z.number().int().min(1),
  seed: z.number().int(),
  // The switches below are absent from configs that predate them: absent, each is at its default
  // (GAN_DEFAULTS), and the run's identity is that of a config without them.
  /**
   * gan-cls: StackGAN's matching-aware discriminator, sigmoid cross-entropy. wgan-gp: a critic
   * (no sigmoid, layer norm for batch norm) with Wasserstein losses keeping GAN-CLS's matching-aware
   * terms, and a gradient penalty.
   */
  loss: z.enum(GAN_LOSSES).optional(),
  /** wgan-gp: the gradient penalty's weight λ. */
  gradientPenalty: z.number().min(0).optional(),
  /** Discriminator (critic) updates per generator update, each on a batch of its own. */
  criticSteps: z.number().int().min(1).optional(),
  /** Weight of the auxiliary classifier's class cross-entropy (AC-GAN) in both networks' losses; 0: no auxiliary classifier head. */
  auxClassLoss: z.number().min(0).optional(),
  /**
   * Decay of an exponential moving average of the generator's weights (its conditioning
   * augmentation and batch-norm statistics too), taken after each generator update; the grids and
   * the exported generator are the average. 0: the generator's last weights, as StackGAN.
   */
  weightAverage: z.number().min(0).max(0.99999).optional(),
};

export const GanTrainingConfig = z.object(ganTrainingFields);
export type GanTrainingConfig = z.infer<typeof GanTrainingConfig>;

// The schema and the plain type that browser code reads must not drift apart.
const _switchesMatch: Required<GanSwitches> extends Required<Pick<GanTrainingConfig, keyof GanSwitches>> ? (Required<Pick<GanTrainingConfig, keyof GanSwitches>> extends Required<GanSwitches> ? true : never) : never = true;
void _switchesMatch;

/** The GAN stages' flags beyond those: checkpoint spacing and a time limit. */
export const ganFlags = {
  checkpointEvery: optionalInt,
  minutes: numberFlag((n) => n.positive()).optional(),
  loss: z.enum(GAN_LOSSES).optional(),
  auxClassLoss: numberFlag((n) => n.min(0)).optional(),
  weightAverage: numberFlag((n) => n.min(0).max(0.99999)).optional(),
};

/**
 * What a checkpoint must agree with to be resumed: the config, less what may change between the
 * runs of one training (its length, its checkpointing, its learning rate: lowered to resume a
 * diverged run), and what the run reads (`data`: the sentence vectors' encoder, the images...).
 */
export function runIdentity(config: object, data: Record<string, unknown>): string {
  // A switch written out at its default trains as if left out: the same run.
  const set = Object.entries(config).filter(([key, value]) => GAN_DEFAULTS[key as keyof typeof GAN_DEFAULTS] !== value);
  return JSON.stringify({ ...Object.fromEntries(set), epochs: 0, name: '', checkpointEvery: 0, keepCheckpoints: 0, learningRate: 0, ...data });
}
