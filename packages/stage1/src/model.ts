import { tf } from '@t2i/backends';
import { auxiliaryClassifier, BatchNorm, Bottleneck, ConditionedLogits, ConditioningAugmentation, Conv2d, ConvBn, criticNormalisation, Deconv2d, Dense, leakyRelu, upsample2x, type Mode, type Scope } from '@t2i/gan';
import type { Stage1Config } from './config.ts';

/** Side of Stage I's images. */
export const IMAGE_SIZE = 64;

/**
 * Stage I generator: (c, z) -> 64x64x3 in [-1, 1]. Both variants the seed report compares start
 * alike: c and the noise z concatenated, a fully connected layer to a 4x4 map of 8 ngf channels,
 * batch norm. `buildGenerator` makes the one a config names.
 */
export abstract class Generator {
  readonly ca: ConditioningAugmentation;
  protected readonly fc: Dense;
  protected readonly fcBn: BatchNorm;
  protected readonly ngf: number;

  protected constructor(s: Scope, config: GeneratorConfig, textDim: number, fcBnChannels: number) {
    const { ngf, zDim, conditionDim } = config;
    this.ngf = ngf;
    this.ca = new ConditioningAugmentation(s, textDim, conditionDim);
    this.fc = new Dense(s, 'g/fc', conditionDim + zDim, 4 * 4 * ngf * 8);
    this.fcBn = new BatchNorm(s, 'g/fc_bn', fcBnChannels);
  }

  /** From the conditioning code and the noise: [n, 64, 64, 3]. */
  abstract generate(c: tf.Tensor2D, z: tf.Tensor2D, mode: Mode): tf.Tensor4D;
}

type GeneratorConfig = Pick<Stage1Config, 'generator' | 'ngf' | 'zDim' | 'conditionDim'>;
type DiscriminatorConfig = Pick<Stage1Config, 'discriminator' | 'ndf' | 'conditionDim' | 'loss' | 'auxClassLoss'>;

export function buildGenerator(s: Scope, config: GeneratorConfig, textDim: number): Generator {
  return config.generator === 'simple' ? new SimpleGenerator(s, config, textDim) : new ComplexGenerator(s, config, textDim);
}

/**
 * The seed report's simple generator: batch norm over the 4x4 map's channels and ReLU, then four
 * transposed convs, each doubling the size and halving the depth (BN + ReLU; tanh on the last).
 */
export class SimpleGenerator extends Generator {
  private readonly deconvs: { up: Deconv2d; bn?: BatchNorm }[] = [];

  constructor(s: Scope, config: GeneratorConfig, textDim: number) {
    const { ngf } = config;
    super(s, config, textDim, ngf * 8);
    const widths = [ngf * 8, ngf * 4, ngf * 2, ngf, 3];
    for (let i = 0; i < 4; i++) {
      this.deconvs.push({ up: new Deconv2d(s, `g/deconv${i + 1}`, widths[i], widths[i + 1]), bn: i < 3 ? new BatchNorm(s, `g/deconv${i + 1}_bn`, widths[i + 1]) : undefined });
    }
  }

  generate(c: tf.Tensor2D, z: tf.Tensor2D, mode: Mode): tf.Tensor4D {
    const n = c.shape[0];
    let h = this.fcBn.apply(this.fc.apply(tf.concat([c, z], 1)).reshape([n, 4, 4, this.ngf * 8]) as tf.Tensor4D, mode, 'relu');
    for (const { up, bn } of this.deconvs) h = bn ? bn.apply(up.apply(h), mode, 'relu') : tf.tanh(up.apply(h));
    return h;
  }
}

/**
 * The official StackGAN's (the seed report's complex): batch norm over the FC's features before
 * the reshape, a residual unit at 4x4 and at 8x8, and nearest-neighbour upsampling + 3x3 conv + BN
 * in place of transposed convs, to 64x64 (tanh).
 */
export class ComplexGenerator extends Generator {
  private readonly res4: Bottleneck;
  private readonly up8: ConvBn;
  private readonly res8: Bottleneck;
  private readonly up16: ConvBn;
  private readonly up32: ConvBn;
  private readonly toRgb: Conv2d;

  constructor(s: Scope, config: GeneratorConfig, textDim: number) {
    const { ngf } = config;
    super(s, config, textDim, 4 * 4 * ngf * 8);
    this.res4 = new Bottleneck(s, 'g/res4', ngf * 8, 'relu');
    this.up8 = new ConvBn(s, 'g/up8', ngf * 8, ngf * 4, 3);
    this.res8 = new Bottleneck(s, 'g/res8', ngf * 4, 'relu');
    this.up16 = new ConvBn(s, 'g/up16', ngf * 4, ngf * 2, 3);
    this.up32 = new ConvBn(s, 'g/up32', ngf * 2, ngf, 3);
    this.toRgb = new Conv2d(s, 'g/up64/conv', ngf, 3, 3);
  }

  generate(c: tf.Tensor2D, z: tf.Tensor2D, mode: Mode): tf.Tensor4D {
    const n = c.shape[0];
    // No activation before the residual sum, as the official code does.
    const h4 = this.fcBn.apply(this.fc.apply(tf.concat([c, z], 1)), mode).reshape([n, 4, 4, this.ngf * 8]) as tf.Tensor4D;
    const r4 = tf.relu(this.res4.apply(h4, mode));
    const h8 = this.up8.apply(upsample2x(r4), mode);
    const r8 = tf.relu(this.res8.apply(h8, mode));
    const h16 = this.up16.apply(upsample2x(r8), mode, 'relu');
    const h32 = this.up32.apply(upsample2x(h16), mode, 'relu');
    return tf.tanh(this.toRgb.apply(upsample2x(h32)));
  }
}

/**
 * Stage I discriminator: stride-2 4x4 convs from 64x64 down to 4x4 (complex: plus a residual
 * unit at 4x4); then the text joins the 4x4 features (`ConditionedLogits`) for one logit.
 * Under wgan-gp it is WGAN-GP's critic: layer norm in place of batch norm, and its logit a score.
 * With auxClassLoss, an auxiliary classifier head (AC-GAN) reads the 4x4 image features, before
 * the text joins them (else the caption would give the class away): a dense layer to class logits.
 */
export class Discriminator {
  private readonly first: Conv2d;
  private readonly downs: ConvBn[] = [];
  private readonly res?: Bottleneck;
  private readonly head: ConditionedLogits;
  /** Features -> [n, classes] class logits, with an auxiliary classifier. */
  readonly classify?: (h: tf.Tensor4D) => tf.Tensor2D;
  private readonly kind: Stage1Config['discriminator'];

  /** `classes`: the training classes the auxiliary classifier tells apart (only read with auxClassLoss). */
  constructor(s: Scope, config: DiscriminatorConfig, textDim: number, classes = 0) {
    const { ndf, conditionDim } = config;
    const norm = criticNormalisation(config);
    this.kind = config.discriminator;
    this.first = new Conv2d(s, 'd/down1', 3, ndf, 4, 2);
    this.downs = [new ConvBn(s, 'd/down2', ndf, ndf * 2, 4, 2, norm), new ConvBn(s, 'd/down3', ndf * 2, ndf * 4, 4, 2, norm), new ConvBn(s, 'd/down4', ndf * 4, ndf * 8, 4, 2, norm)];
    if (this.kind === 'complex') this.res = new Bottleneck(s, 'd/res4', ndf * 8, 'leakyRelu', norm);
    this.head = new ConditionedLogits(s, ndf * 8, textDim, conditionDim, norm, 'd/logit');
    this.classify = auxiliaryClassifier(s, config, 4 * 4 * ndf * 8, classes);
  }

  /** [n, 64, 64, 3] images -> [n, 4, 4, 8 ndf] features. */
  features(images: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    let h = leakyRelu(this.first.apply(images));
    if (this.kind === 'simple') {
      for (const down of this.downs) h = down.apply(h, mode, 'leakyRelu');
      return h;
    }
    // The official code leaves the 3rd and 4th convs without activation before the residual unit.
    h = this.downs[0].apply(h, mode, 'leakyRelu');
    h = this.downs[2].apply(this.downs[1].apply(h, mode), mode);
    return leakyRelu(this.res!.apply(h, mode));
  }

  /** Features and [n, textDim] text vectors -> [n] logits. */
  judge(h: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D {
    return this.head.apply(h, text, mode);
  }

  /** [n, 64, 64, 3] images and [n, textDim] text vectors -> [n] logits. */
  logits(images: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D {
    return this.judge(this.features(images, mode), text, mode);
  }
}
