import { ganTrainingFields } from '@t2i/gan';
import { z } from 'zod';

export const Stage2Config = z.object({
  /** Generator width: 16x16 features of 4 x ngf channels, upsampled through 2, 1, 1/2, 1/4 x ngf. */
  ngf: z.number().int().min(4).multipleOf(4),
  /** Discriminator width: its first conv has ndf channels, its 4x4 map 8 x ndf. */
  ndf: z.number().int().min(1),
  /** Residual blocks at 16x16 in the generator (the paper: 4). */
  residualBlocks: z.number().int().min(0),
  /**
   * Departures from StackGAN for a CPU budget, each off unless a config sets it (docs/model.md, "Departures from the seed report and from the official StackGAN").
   * inputSkip: the generator's output is Stage I's image upscaled (bilinear) plus a learnt
   * correction, added before the tanh, the last conv starting at zero: at step 0 Stage II returns its input.
   */
  inputSkip: z.boolean().optional(),
  /**
   * detailOnly (implies inputSkip): the correction loses its 4x4 block means and the upscale is
   * back-projected, so that Stage II's image box-filtered to 64 is exactly its Stage I image (kept
   * inside ±1 by scaling each block's departure, not by clipping): Stage II can add detail, never
   * repaint (LAPGAN's band-pass residual).
   */
  detailOnly: z.boolean().optional(),
  /**
   * projectWhenDrawing: when drawing, not in training, Stage II's image is back-projected onto its
   * Stage I image, so that box-filtered to 64 it is that image exactly: the consistency term's aim,
   * held exactly where the images are used. Training is the same with it or without, so it is
   * outside a run's identity.
   */
  projectWhenDrawing: z.boolean().optional(),
  /** Weight of an L1 term in G's loss between its 256 image box-filtered to 64 and the Stage I image it refined: it keeps what Stage I drew. */
  consistencyWeight: z.number().min(0).optional(),
  /** Weight of an L1 term in G's loss on real pairs: a real 256 image box-filtered to 64, refined back towards that image under its caption. */
  upsamplerWeight: z.number().min(0).optional(),
  /** Stage II has its own conditioning augmentation, of conditionDim. */
  ...ganTrainingFields,
  /**
   * Training images held in memory while streaming images-304.arrow: batches (and the wrong
   * images) are drawn from this many rows, refilled one record batch at a time.
   */
  shuffleRows: z.number().int().min(1),
});
export type Stage2Config = z.infer<typeof Stage2Config> & { name: string };

/** The departures from StackGAN a config sets, in words: what a report says beside a Stage II's scores. */
export function departures(c: Pick<Stage2Config, 'inputSkip' | 'detailOnly' | 'consistencyWeight' | 'upsamplerWeight' | 'projectWhenDrawing'>): string[] {
  return [
    c.detailOnly ? 'detail only' : c.inputSkip ? 'input skip' : '',
    c.consistencyWeight ? `consistency ${c.consistencyWeight}` : '',
    c.upsamplerWeight ? `upsampler ${c.upsamplerWeight}` : '',
    c.projectWhenDrawing ? 'drawn projected onto Stage I at 64 px' : '',
  ].filter(Boolean);
}
