import type { GanTrainingConfig } from './config.ts';

// Apart from config.ts (zod, the command line's flags): the models read these in a browser too.

/** The optional switches' values when a config leaves them out: the paper's GAN-CLS, WGAN-GP's λ of 10. */
export const GAN_DEFAULTS = { beta2: 0.999, loss: 'gan-cls', gradientPenalty: 10, criticSteps: 1, auxClassLoss: 0 } as const;

/** A config's switch, its default where the config leaves it out. */
export const ganSetting = <K extends keyof typeof GAN_DEFAULTS>(config: Partial<Pick<GanTrainingConfig, K>>, key: K): NonNullable<GanTrainingConfig[K]> =>
  (config[key] ?? GAN_DEFAULTS[key]) as NonNullable<GanTrainingConfig[K]>;
