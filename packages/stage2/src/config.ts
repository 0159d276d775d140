import { ganTrainingFields } from '@t2i/gan';
import { z } from 'zod';

export const Stage2Config = z.object({
  /** Generator width: 16x16 features of 4 x ngf channels, upsampled through 2, 1, 1/2, 1/4 x ngf. */
  ngf: z.number().int().min(4).multipleOf(4),
  /** Discriminator width: its first conv has ndf channels, its 4x4 map 8 x ndf. */
  ndf: z.number().int().min(1),
  /** Residual blocks at 16x16 in the generator (the paper: 4). */
  residualBlocks: z.number().int().min(0),
  /** Stage II has its own conditioning augmentation, of conditionDim. */
  ...ganTrainingFields,
  /**
   * Training images held in memory while streaming images-304.arrow: batches (and the wrong
   * images) are drawn from this many rows, refilled one record batch at a time.
   */
  shuffleRows: z.number().int().min(1),
});
export type Stage2Config = z.infer<typeof Stage2Config> & { name: string };
