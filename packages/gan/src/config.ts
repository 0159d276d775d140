import { numberFlag, optionalInt } from '@t2i/core';
import { z } from 'zod';

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
  /** Weight of the conditioning augmentation's KL term in the generator loss. */
  klWeight: z.number().min(0),
  /** Each training example's text vector is the mean of this many of its image's captions, drawn afresh. */
  captionsPerExample: z.number().int().min(1).max(10),
  checkpointEvery: z.number().int().min(1),
  keepCheckpoints: z.number().int().min(1),
  seed: z.number().int(),
};

/** The GAN stages' flags beyond those: checkpoint spacing and a time limit. */
export const ganFlags = {
  checkpointEvery: optionalInt,
  minutes: numberFlag((n) => n.positive()).optional(),
};

/**
 * What a checkpoint must agree with to be resumed: the config, less what may change between the
 * runs of one training (its length, its checkpointing, its learning rate: lowered to resume a
 * diverged run), and what the run reads (`data`: the sentence vectors' encoder, the images...).
 */
export function runIdentity(config: object, data: Record<string, unknown>): string {
  return JSON.stringify({ ...config, epochs: 0, name: '', checkpointEvery: 0, keepCheckpoints: 0, learningRate: 0, ...data });
}
