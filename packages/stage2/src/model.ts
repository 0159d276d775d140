import { tf } from '@t2i/backends';
import { auxiliaryClassifier, Bottleneck, ConditionedLogits, ConditioningAugmentation, Conv2d, ConvBn, criticNormalisation, leakyRelu, type Mode, replicate, type Scope, upsample2x } from '@t2i/gan';
import type { Stage2Config } from './config.ts';

/** Side of Stage II's images. */
export const IMAGE_SIZE = 256;

/** The input skip's upscaled image is kept this far inside ±1, where atanh is finite. */
const SKIP_LIMIT = 0.995;

/** Side of the Stage I images that Stage II refines. */
export const STAGE1_SIZE = 64;

/** Images resized to `side` by bilinear interpolation (pixel centres aligned, as image libraries do). */
export const upscaleBilinear = (images: tf.Tensor4D, side: number): tf.Tensor4D => tf.image.resizeBilinear(images, [side, side], false, true);

/** 256x256 images box-filtered to Stage I's 64x64 (the mean of each 4x4 block). */
export const toStage1Size = (images: tf.Tensor4D): tf.Tensor4D => tf.avgPool(images, IMAGE_SIZE / STAGE1_SIZE, IMAGE_SIZE / STAGE1_SIZE, 'valid');

/** 64x64 images with each pixel repeated over its 4x4 block at 256: toStage1Size gives them back. */
const blocks = (images: tf.Tensor4D): tf.Tensor4D => tf.image.resizeNearestNeighbor(images, [IMAGE_SIZE, IMAGE_SIZE]);

/** 256 images `x` with each 4x4 block shifted by its gap to the 64 px `image`: box-filtered to 64, they are `image`. */
const shiftedOntoBlocks = (x: tf.Tensor4D, image: tf.Tensor4D): tf.Tensor4D => x.add(blocks(image.sub(toStage1Size(x))));

/**
 * Stage I's image upscaled (bilinear) and back-projected: the difference between the image and the
 * upscale's 4x4 means is added back per block, so that box-filtered to 64 it is the image again.
 */
export const backProjected = (image: tf.Tensor4D): tf.Tensor4D => shiftedOntoBlocks(upscaleBilinear(image, IMAGE_SIZE), image);

/** 256 images less their 4x4 block means: only the detail finer than a Stage I pixel. */
const detailOf = (x: tf.Tensor4D): tf.Tensor4D => x.sub(blocks(toStage1Size(x)));

/**
 * 256 images `x` drawn towards the 64 px `image`, block by block and channel by channel, just
 * enough to lie inside ±1: each 4x4 block's departure from its Stage I pixel m is scaled by the
 * largest s <= 1 that keeps every pixel in [-1, 1]. A block whose 4x4 mean is m keeps it (a clip
 * would move it); m is a tanh output, inside ±1, so s >= 0.
 */
export function keepInRange(x: tf.Tensor4D, image: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const m = blocks(image);
    const v = x.sub(m);
    // How far each pixel may go towards the bound it heads for, as a share of where it goes.
    const room = tf.where(v.greater(0), tf.sub(1, m), m.add(1));
    const share = tf.where(v.abs().greater(1e-12), room.div(v.abs().maximum(1e-12)), tf.onesLike(v));
    const s = tf.neg(tf.maxPool(share.neg() as tf.Tensor4D, IMAGE_SIZE / STAGE1_SIZE, IMAGE_SIZE / STAGE1_SIZE, 'valid')).minimum(1) as tf.Tensor4D;
    return m.add(v.mul(blocks(s)));
  });
}

/** Smooth back-projection steps before the last, blockwise one: each leaves about half the remainder (measured: 0.035 -> 0.002 mean in 4). */
const PROJECTION_STEPS = 4;

/**
 * 256 images `x` moved onto the 64 px `image`: box-filtered to 64 they give it back exactly. The
 * remainder (image less x box-filtered) is added back upscaled (bilinear) a few times, a smooth
 * change where one blockwise step would leave a 4 px step at every block edge; what is left then
 * goes per block, and keepInRange holds the result inside ±1.
 */
export function projectedOnto(x: tf.Tensor4D, image: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    for (let i = 0; i < PROJECTION_STEPS; i++) y = y.add(upscaleBilinear(image.sub(toStage1Size(y)), IMAGE_SIZE));
    return keepInRange(shiftedOntoBlocks(y, image), image);
  });
}

/**
 * atanh(clip(x)), written out as ½ log((1 + x) / (1 − x)): tanh of it gives x back, so adding a
 * correction before the generator's tanh starts it at its input.
 */
function atanhClipped(x: tf.Tensor4D): tf.Tensor4D {
  const c = tf.clipByValue(x, -SKIP_LIMIT, SKIP_LIMIT);
  return tf.log(c.add(1).div(tf.sub(1, c))).mul<tf.Tensor4D>(0.5);
}

/** Stage II's residual block at 16x16 (official StackGAN): 3x3 conv, BN, ReLU, 3x3 conv, BN, added to the input, ReLU. */
class ResidualBlock {
  private readonly a: ConvBn;
  private readonly b: ConvBn;

  constructor(s: Scope, name: string, channels: number) {
    this.a = new ConvBn(s, `${name}/a`, channels, channels, 3);
    this.b = new ConvBn(s, `${name}/b`, channels, channels, 3);
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    return tf.relu(x.add<tf.Tensor4D>(this.b.apply(this.a.apply(x, mode, 'relu'), mode)));
  }
}

/**
 * Stage II generator: a Stage I 64x64 image and Stage II's own conditioning code -> 256x256x3 in
 * [-1, 1]. The image is encoded down to 16x16, joined with the code tiled over it, refined by
 * residual blocks, and upsampled (nearest neighbour + 3x3 conv) four times, as the official code.
 * With `inputSkip` (a departure, off in the paper's config) its last conv is a correction to the
 * Stage I image upscaled, starting at zero: an untrained Stage II returns its input. With
 * `detailOnly` the correction loses its 4x4 block means and the upscale is back-projected, as
 * LAPGAN's band-pass residuals, and each block is kept inside ±1 by scaling its departure from its
 * Stage I pixel: box-filtered to 64, Stage II's image is its Stage I image. With
 * `projectWhenDrawing` the image drawn outside training is moved onto its Stage I image likewise,
 * smoothly (projectedOnto), while training sees the generator's own output.
 */
export class Generator {
  readonly ca: ConditioningAugmentation;
  private readonly encode1: Conv2d;
  private readonly encode2: ConvBn;
  private readonly encode3: ConvBn;
  private readonly joint: ConvBn;
  private readonly residuals: ResidualBlock[];
  private readonly ups: ConvBn[];
  private readonly toRgb: Conv2d;
  private readonly inputSkip: boolean;
  private readonly detailOnly: boolean;
  private readonly projectWhenDrawing: boolean;

  constructor(s: Scope, config: Pick<Stage2Config, 'ngf' | 'conditionDim' | 'residualBlocks' | 'inputSkip' | 'detailOnly' | 'projectWhenDrawing'>, textDim: number) {
    const { ngf, conditionDim } = config;
    this.ca = new ConditioningAugmentation(s, textDim, conditionDim);
    this.encode1 = new Conv2d(s, 'g/encode64/conv', 3, ngf, 3);
    this.encode2 = new ConvBn(s, 'g/encode32', ngf, ngf * 2, 4, 2);
    this.encode3 = new ConvBn(s, 'g/encode16', ngf * 2, ngf * 4, 4, 2);
    this.joint = new ConvBn(s, 'g/joint', ngf * 4 + conditionDim, ngf * 4, 3);
    this.residuals = Array.from({ length: config.residualBlocks }, (_, i) => new ResidualBlock(s, `g/res${i + 1}`, ngf * 4));
    const widths = [ngf * 4, ngf * 2, ngf, ngf / 2, ngf / 4];
    this.ups = [32, 64, 128, 256].map((side, i) => new ConvBn(s, `g/up${side}`, widths[i], widths[i + 1], 3));
    this.detailOnly = config.detailOnly ?? false;
    this.inputSkip = (config.inputSkip ?? false) || this.detailOnly;
    this.projectWhenDrawing = config.projectWhenDrawing ?? false;
    this.toRgb = new Conv2d(s, 'g/to_rgb/conv', ngf / 4, 3, 3, 1, 'same', this.inputSkip ? { kind: 'zeros' } : undefined);
  }

  /** [n, 64, 64, 3] Stage I images -> [n, 16, 16, 4 ngf] features. */
  encode(image: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    const h = tf.relu(this.encode1.apply(image));
    return this.encode3.apply(this.encode2.apply(h, mode, 'relu'), mode, 'relu');
  }

  /** From Stage I's image and the conditioning code: [n, 256, 256, 3]. */
  generate(image: tf.Tensor4D, c: tf.Tensor2D, mode: Mode): tf.Tensor4D {
    const h = this.encode(image, mode);
    const [, hh, ww] = h.shape;
    const code = replicate(c, hh, ww);
    let x = this.joint.apply(tf.concat([h, code], 3), mode, 'relu');
    for (const block of this.residuals) x = block.apply(x, mode);
    for (const up of this.ups) x = up.apply(upsample2x(x), mode, 'relu');
    const out = this.toRgb.apply(x);
    // Neither squashed by a tanh nor clipped: either would move the block means off Stage I's pixels.
    if (this.detailOnly) return keepInRange(backProjected(image).add<tf.Tensor4D>(detailOf(out)), image);
    const drawn = tf.tanh(this.inputSkip ? atanhClipped(upscaleBilinear(image, IMAGE_SIZE)).add<tf.Tensor4D>(out) : out);
    return this.projectWhenDrawing && !mode.training ? projectedOnto(drawn, image) : drawn;
  }
}

/**
 * Stage II discriminator (official StackGAN): six stride-2 4x4 convs from 256x256 to 4x4 (ndf up
 * to 32 ndf), two 1x1 convs back to 8 ndf, a bottleneck residual unit; then, as Stage I's, the
 * text joins the 4x4 features (`ConditionedLogits`) for one logit. Under wgan-gp and with auxClassLoss,
 * as Stage I's: a critic with layer norm, and an auxiliary classifier head on the 4x4 image features.
 */
export class Discriminator {
  private readonly first: Conv2d;
  private readonly downs: ConvBn[];
  private readonly reduce: ConvBn[];
  private readonly res: Bottleneck;
  private readonly head: ConditionedLogits;
  /** Features -> [n, classes] class logits, with an auxiliary classifier. */
  readonly classify?: (h: tf.Tensor4D) => tf.Tensor2D;

  /** `classes`: the training classes the auxiliary classifier tells apart (only read with auxClassLoss). */
  constructor(s: Scope, config: Pick<Stage2Config, 'ndf' | 'conditionDim' | 'loss' | 'auxClassLoss'>, textDim: number, classes = 0) {
    const { ndf, conditionDim } = config;
    const norm = criticNormalisation(config);
    this.first = new Conv2d(s, 'd/down128/conv', 3, ndf, 4, 2);
    this.downs = [64, 32, 16, 8, 4].map((side, i) => new ConvBn(s, `d/down${side}`, ndf * 2 ** i, ndf * 2 ** (i + 1), 4, 2, norm));
    this.reduce = [new ConvBn(s, 'd/reduce16', ndf * 32, ndf * 16, 1, 1, norm), new ConvBn(s, 'd/reduce8', ndf * 16, ndf * 8, 1, 1, norm)];
    this.res = new Bottleneck(s, 'd/res4', ndf * 8, 'leakyRelu', norm);
    this.head = new ConditionedLogits(s, ndf * 8, textDim, conditionDim, norm, 'd/logit/conv');
    this.classify = auxiliaryClassifier(s, config, 4 * 4 * ndf * 8, classes);
  }

  /** [n, 256, 256, 3] images -> [n, 4, 4, 8 ndf] features. */
  features(images: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    let h = leakyRelu(this.first.apply(images));
    for (const down of this.downs) h = down.apply(h, mode, 'leakyRelu');
    // As the official code: no activation after the second 1x1 conv, before the residual sum.
    h = this.reduce[1].apply(this.reduce[0].apply(h, mode, 'leakyRelu'), mode);
    return leakyRelu(this.res.apply(h, mode));
  }

  /** Features and [n, textDim] text vectors -> [n] logits. */
  judge(h: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D {
    return this.head.apply(h, text, mode);
  }

  /** [n, 256, 256, 3] images and [n, textDim] text vectors -> [n] logits. */
  logits(images: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D {
    return this.judge(this.features(images, mode), text, mode);
  }
}
