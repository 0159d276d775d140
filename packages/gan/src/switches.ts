// Apart from config.ts (zod, the command line's flags): the models read these in a browser too.

/** The optional switches' values when a config leaves them out: the paper's GAN-CLS, WGAN-GP's λ of 10. */
export const GAN_DEFAULTS = { beta2: 0.999, loss: 'gan-cls', gradientPenalty: 10, criticSteps: 1, auxClassLoss: 0, weightAverage: 0 } as const;

/** The adversarial losses a config can name. */
export const GAN_LOSSES = ['gan-cls', 'wgan-gp'] as const;

/** The switches as a config holds them (config.ts's schema parses to this), each optional. */
export interface GanSwitches {
  beta2?: number;
  loss?: (typeof GAN_LOSSES)[number];
  gradientPenalty?: number;
  criticSteps?: number;
  auxClassLoss?: number;
  weightAverage?: number;
}

/** A config's switch, its default where the config leaves it out. */
export const ganSetting = <K extends keyof GanSwitches>(config: Partial<Pick<GanSwitches, K>>, key: K): NonNullable<GanSwitches[K]> =>
  (config[key] ?? GAN_DEFAULTS[key]) as NonNullable<GanSwitches[K]>;
