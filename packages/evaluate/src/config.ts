import { z } from 'zod';

export const EvaluateConfig = z.object({
  /** Channels of the classifier's first convolutions; later ones double it. */
  classifierWidth: z.number().int().min(2),
  /** Size of the classifier's pooled feature vector, on which FID and the course's score are computed: 64-128 keeps FID's matrix square root fast. */
  classifierFeatures: z.number().int().min(2).max(256),
  classifierEpochs: z.number().int().min(1),
  classifierBatchSize: z.number().int().min(2),
  classifierLearningRate: z.number().positive(),
  classifierSeed: z.number().int(),
  /** Captions used per test image (its first k of 10), each drawn `samplesPerCaption` times. */
  captionsPerImage: z.number().int().min(1).max(10),
  samplesPerCaption: z.number().int().min(1),
  /** Images per generator and classifier call. */
  batchSize: z.number().int().min(1),
  /** Splits for the Inception Score and R-precision (mean and std over them). */
  splits: z.number().int().min(1),
  /** Captions each generated image ranks for R-precision: its own and (candidates - 1) mismatched ones. */
  rPrecisionCandidates: z.number().int().min(2),
  /** Samples per reference caption in the report's grids. */
  referenceSamples: z.number().int().min(1).max(16),
  /** Fixed-noise grids shown per stage in the report (evenly spaced epochs, the last always). */
  gridEpochs: z.number().int().min(1),
  /** Grids per stage in the report's animation of training (evenly spaced, the last always); under 2 writes none. */
  animationFrames: z.number().int().min(0),
  /** Points in each moving average of the report's Stage I / Stage II chart. */
  movingAverage: z.number().int().min(1),
  /** Noise of the generated samples. */
  seed: z.number().int(),
});
export type EvaluateConfig = z.infer<typeof EvaluateConfig> & { name: string };
