import { type Activation, BATCH_NORM_EPSILON, type BatchNormTraining, LEAKY_SLOPE, MOVING_AVERAGE, ownBatchNorm, tf } from '@t2i/backends';
import type { Init, ParamStore } from './params.ts';

/** What a layer needs to create its parameters: a ParamStore or one of its scopes. */
export type Scope = Pick<ParamStore, 'add'>;

/** StackGAN's initialisers (the seed report's table): conv clip(N(0, 0.02)), FC N(0, 0.02), BN gamma N(1, 0.02). */
export const CONV_INIT: Init = { kind: 'normal', std: 0.02, clip: 2 };
export const FC_INIT: Init = { kind: 'normal', std: 0.02 };
export const GAMMA_INIT: Init = { kind: 'normal', mean: 1, std: 0.02 };

/**
 * Batch statistics to fold into the moving averages after a training step. The forward pass
 * runs inside the optimizer's tidy, so the statistics are kept for the caller to apply.
 */
export class BatchNormUpdates {
  /** Each layer's batch statistics, [2, channels]: the mean, then the variance. */
  readonly pending: { layer: BatchNorm; stats: tf.Tensor }[] = [];

  apply(momentum = 0.9): void {
    const ownKernel = tf.getKernel(MOVING_AVERAGE, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      for (const { layer, stats } of this.pending) {
        const { moving } = layer;
        moving.assign(ownKernel ? (tf.engine().runKernel(MOVING_AVERAGE, { moving, stats } as never, { momentum } as never) as tf.Tensor) : moving.mul(momentum).add(stats.mul(1 - momentum)));
      }
    });
    this.discard();
  }

  discard(): void {
    tf.dispose(this.pending.map((p) => p.stats));
    this.pending.length = 0;
  }
}

/** Training mode: the forward pass uses batch statistics and records them in `updates` (if given). */
export interface Mode {
  training: boolean;
  updates?: BatchNormUpdates;
  /**
   * The batch is this many batches stacked, each normalised with its own statistics, exactly as
   * separate calls would be: the discriminator judges real, mismatched and fake images in one pass.
   */
  groups?: number;
}

/**
 * Batch normalisation over all axes but the last, as tf.layers.batch_normalization: batch
 * statistics in training, moving averages (non-trainable, checkpointed) in inference.
 */
export class BatchNorm {
  /**
   * γ and β as the rows of one [2, channels] weight, and the moving mean and variance likewise:
   * one gradient and one Adam update a layer rather than two (fewer webgpu dispatches: docs/webgpu.md).
   */
  readonly gammaBeta: tf.Variable;
  readonly moving: tf.Variable;

  constructor(s: Scope, name: string, channels: number) {
    this.gammaBeta = s.add(`${name}/gamma_beta`, [2, channels], { kind: 'rows', rows: [GAMMA_INIT, { kind: 'zeros' }] });
    this.moving = s.add(`${name}/moving_mean_variance`, [2, channels], { kind: 'rows', rows: [{ kind: 'zeros' }, { kind: 'ones' }] }, false);
  }

  /** With `activation`, the activation after it too: one kernel with it on webgpu. */
  apply<T extends tf.Tensor>(x: T, mode: Mode, activation?: Activation): T {
    if (!mode.training) {
      return tf.tidy(() => {
        const [mean, variance] = tf.unstack(this.moving);
        const [gamma, beta] = tf.unstack(this.gammaBeta);
        return activate(tf.batchNorm(x, mean, variance, beta, gamma, BATCH_NORM_EPSILON) as T, activation);
      });
    }
    const groups = mode.groups ?? 1;
    if (groups > 1 && mode.updates) throw new Error('batch norm: stacked batches have no single set of statistics to record');
    const record = mode.updates && ((stats: tf.Tensor) => mode.updates!.pending.push({ layer: this, stats }));
    return batchNormTraining(x, this.gammaBeta, groups, record, activation) as T;
  }
}

/**
 * Training-mode batch norm, each of `groups` stacked batches normalised by its own statistics,
 * with its gradient written out (Ioffe & Szegedy 2015; per group and channel, over its n values):
 *
 *   dx = γ/σ · (dy − Σdy/n − x̂·Σ(dy·x̂)/n),   dγ = Σ dy·x̂,   dβ = Σ dy
 *
 * Autodiff through tf.moments and tf.batchNorm kept more intermediates and took 49 webgpu
 * dispatches a layer, forward and back with a loss around it; this takes 28 (webgpu now runs its
 * own kernels instead: @t2i/backends' webgpu/batch-norm.ts). The input is saved for the backward pass, as
 * autodiff saves it; x̂ is recomputed there rather than held.
 * `record` receives the batch statistics for the moving averages.
 */
export const batchNormTraining: BatchNormTraining = (x, gammaBeta, groups, record, activation) => {
  const own = ownBatchNorm(tf.getBackend());
  if (own) return own(x, gammaBeta, groups, record, activation);
  const shape = x.shape;
  const channels = shape[shape.length - 1];
  const normalise = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, gammaBeta, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [gamma, beta] = tf.unstack(gammaBeta);
    const stacked = x.reshape([groups, -1, channels]);
    const { mean, variance } = tf.moments(stacked, 1, true);
    const inv = tf.rsqrt(variance.add(BATCH_NORM_EPSILON));
    if (record) record(tf.keep(tf.concat([mean, variance], 1).reshape([2, channels])));
    // One group: tfjs's fused kernel. Several: written out, since its kernels cycle through the
    // statistics rather than broadcast them over groups.
    const value = groups === 1 ? tf.batchNorm(x, mean.reshape([channels]), variance.reshape([channels]), beta, gamma, BATCH_NORM_EPSILON) : stacked.sub(mean).mul(inv).mul(gamma).add(beta).reshape(shape);
    save([stacked, mean, inv, gamma]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [stacked, mean, inv, gamma]: tf.Tensor[]) => {
        const n = stacked.shape[1]!;
        const dys = dy.reshape(stacked.shape);
        const xhat = stacked.sub(mean).mul(inv);
        const sumDy = dys.sum(1, true);
        const sumDyXhat = dys.mul(xhat).sum(1, true);
        const dx = dys.sub(sumDy.div(n)).sub(xhat.mul(sumDyXhat.div(n))).mul(inv.mul(gamma));
        // Summing over groups is a transpose and a reduction on webgpu; one group needs neither.
        const perChannel = (t: tf.Tensor) => (groups === 1 ? t.reshape([1, channels]) : t.sum([0, 1]).reshape([1, channels]));
        return [dx.reshape(shape), tf.concat([perChannel(sumDyXhat), perChannel(sumDy)])];
      },
    };
  });
  return activate(normalise(x, gammaBeta), activation);
};

/** What follows a conv: batch norm (StackGAN's), or layer norm (a WGAN-GP critic's). */
export type Normalisation = 'batch' | 'layer';

/**
 * Layer normalisation (Ba et al. 2016), which WGAN-GP's critic uses in place of batch norm: each
 * example normalised by the mean and variance of all its features, then a gain and a bias per
 * channel, y = (x − μ)/√(σ² + ε)·γ + β. No statistic crosses examples, so each example's input
 * gradient (the gradient penalty's) is that of the example alone; plain ops, so it has a second
 * derivative. The same in training and inference: no moving averages.
 */
export class LayerNorm {
  /** γ and β as the rows of one [2, channels] weight, as BatchNorm's. */
  readonly gammaBeta: tf.Variable;

  constructor(s: Scope, name: string, channels: number) {
    this.gammaBeta = s.add(`${name}/gamma_beta`, [2, channels], { kind: 'rows', rows: [GAMMA_INIT, { kind: 'zeros' }] });
  }

  apply<T extends tf.Tensor>(x: T, _mode?: Mode, activation?: Activation): T {
    const { mean, variance } = tf.moments(x, Array.from({ length: x.rank - 1 }, (_, i) => i + 1), true);
    const [gamma, beta] = tf.unstack(this.gammaBeta);
    return activate(x.sub(mean).mul(tf.rsqrt(variance.add(BATCH_NORM_EPSILON))).mul(gamma).add(beta) as T, activation);
  }
}

/** A bias-free convolution (StackGAN's convs have none; batch norm follows). */
export class Conv2d {
  readonly w: tf.Variable;

  constructor(
    s: Scope,
    name: string,
    inChannels: number,
    outChannels: number,
    readonly kernel: number,
    readonly stride = 1,
    readonly padding: 'same' | 'valid' = 'same',
    init: Init = CONV_INIT,
  ) {
    this.w = s.add(`${name}/w`, [kernel, kernel, inChannels, outChannels], init);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, this.w as tf.Tensor4D, this.stride, this.padding);
  }
}

/** A 4x4 stride-2 transposed convolution that doubles height and width (the seed's simple generator). */
export class Deconv2d {
  readonly w: tf.Variable;

  constructor(s: Scope, name: string, inChannels: number, readonly outChannels: number) {
    this.w = s.add(`${name}/w`, [4, 4, outChannels, inChannels], FC_INIT);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w] = x.shape;
    return tf.conv2dTranspose(x, this.w as tf.Tensor4D, [n, h * 2, w * 2, this.outChannels], 2, 'same');
  }
}

export class Dense {
  readonly w: tf.Variable;
  readonly b: tf.Variable;

  constructor(s: Scope, name: string, inputs: number, outputs: number) {
    this.w = s.add(`${name}/w`, [inputs, outputs], FC_INIT);
    this.b = s.add(`${name}/b`, [outputs], { kind: 'zeros' });
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return x.matMul(this.w as tf.Tensor2D).add(this.b);
  }
}

export function upsample2x(x: tf.Tensor4D): tf.Tensor4D {
  return tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]);
}

export const leakyRelu = <T extends tf.Tensor>(x: T): T => tf.leakyRelu(x, LEAKY_SLOPE) as T;

export function activate<T extends tf.Tensor>(x: T, activation?: Activation): T {
  if (activation === 'relu') return tf.relu(x);
  return activation === 'leakyRelu' ? leakyRelu(x) : x;
}

/**
 * A text code [n, c] copied to every position of an [n, h, w, c] map, as StackGAN joins it to
 * image features. A broadcast add rather than tf.tile, whose gradient is a slice and an add per
 * copy (33 kernel calls at 4x4, 513 at 16x16, each a GPU dispatch on webgpu); a broadcast's is one sum.
 */
export function replicate(code: tf.Tensor, h: number, w: number): tf.Tensor4D {
  const [n, c] = code.shape;
  return code.reshape([n, 1, 1, c]).add(tf.zeros([1, h, w, 1]));
}

/** conv -> BN (-> activation), the unit StackGAN's generators and discriminators are built from; layer norm for BN in a WGAN-GP critic. */
export class ConvBn {
  private readonly conv: Conv2d;
  private readonly norm: BatchNorm | LayerNorm;

  constructor(s: Scope, name: string, inChannels: number, outChannels: number, kernel: number, stride = 1, norm: Normalisation = 'batch') {
    this.conv = new Conv2d(s, `${name}/conv`, inChannels, outChannels, kernel, stride);
    this.norm = norm === 'batch' ? new BatchNorm(s, `${name}/bn`, outChannels) : new LayerNorm(s, `${name}/ln`, outChannels);
  }

  apply(x: tf.Tensor4D, mode: Mode, activation?: Activation): tf.Tensor4D {
    return this.norm.apply(this.conv.apply(x), mode, activation);
  }
}

/**
 * The official StackGAN's bottleneck residual unit (Stage I's networks, Stage II's discriminator):
 * 1x1 conv to a quarter of the width, 3x3 conv, 3x3 conv back to the full width, each with batch
 * norm (activation between), added to the input. The activation after the sum is the caller's.
 */
export class Bottleneck {
  private readonly a: ConvBn;
  private readonly b: ConvBn;
  private readonly c: ConvBn;

  constructor(s: Scope, name: string, channels: number, private readonly act: Activation, norm: Normalisation = 'batch') {
    const inner = Math.max(1, channels / 4);
    this.a = new ConvBn(s, `${name}/a`, channels, inner, 1, 1, norm);
    this.b = new ConvBn(s, `${name}/b`, inner, inner, 3, 1, norm);
    this.c = new ConvBn(s, `${name}/c`, inner, channels, 3, 1, norm);
  }

  apply(x: tf.Tensor4D, mode: Mode): tf.Tensor4D {
    return x.add(this.c.apply(this.b.apply(this.a.apply(x, mode, this.act), mode, this.act), mode));
  }
}
