import { ganTrainingFields } from '@t2i/gan';
import { z } from 'zod';

export const Stage1Config = z.object({
  /** simple: FC + 4 transposed convs (the seed's); complex: the official StackGAN's (upsample + conv, residual blocks). */
  generator: z.enum(['simple', 'complex']),
  discriminator: z.enum(['simple', 'complex']),
  /** Generator width: its 4x4 map has 8 x ngf channels. */
  ngf: z.number().int().min(1),
  /** Discriminator width: its first conv has ndf channels. */
  ndf: z.number().int().min(1),
  zDim: z.number().int().min(1),
  ...ganTrainingFields,
});
export type Stage1Config = z.infer<typeof Stage1Config> & { name: string };
