import type { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import type { GanBatch } from './batch.ts';
import type { GanTrainingConfig } from './config.ts';
import { ganSetting } from './switches.ts';
import type { Mode } from './layers.ts';

export type GanLoss = NonNullable<GanTrainingConfig['loss']>;

/** A loss to minimise, and the terms logged beside it. */
export interface Losses {
  total: tf.Scalar;
  /** Logged beside the total: the loss's terms. */
  parts: Record<string, tf.Scalar>;
}

/**
 * KL(N(mu, sigma^2) || N(0, I)) per dimension, averaged over batch and dimensions as the official
 * StackGAN does: mean(-log sigma + (sigma^2 + mu^2 - 1) / 2).
 */
export function klLoss(mu: tf.Tensor2D, logSigma: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => logSigma.neg().add(logSigma.mul(2).exp().add(mu.square()).sub(1).mul(0.5)).mean() as tf.Scalar);
}

/**
 * Sigmoid cross-entropy of logits against one label for all, averaged: softplus(−x) for 1,
 * softplus(x) for 0, with its gradient written out, (σ(x) − label)/n. tf.losses.sigmoidCrossEntropy
 * gives the same values through four times the kernel calls, each a GPU dispatch (docs/webgpu.md).
 */
export const bce = (logits: tf.Tensor1D, target: 0 | 1): tf.Scalar =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([x]);
    return {
      value: (target === 1 ? x.neg() : x).softplus().mean() as tf.Scalar,
      gradFunc: (dy: tf.Tensor, [x]: tf.Tensor[]) => {
        const p = x.sigmoid();
        return (target === 1 ? p.sub(1) : p).mul(dy.div(x.size));
      },
    };
  })(logits) as tf.Scalar;

/**
 * The matching-aware discriminator loss (GAN-CLS): (real image, its text) -> 1, (real image of
 * another class, the text) -> 0, (fake, the text) -> 0; real + (wrong + fake) / 2.
 */
export function discriminatorLoss(real: tf.Tensor1D, wrong: tf.Tensor1D, fake: tf.Tensor1D): { total: tf.Scalar; real: tf.Scalar; wrong: tf.Scalar; fake: tf.Scalar } {
  const r = bce(real, 1);
  const w = bce(wrong, 0);
  const f = bce(fake, 0);
  return { total: r.add(w.add(f).div(2)), real: r, wrong: w, fake: f };
}

/** The generator wants its fakes taken for real (under wgan-gp: scored high by the critic), plus the weighted KL term. */
export function generatorLoss(fake: tf.Tensor1D, kl: tf.Scalar, klWeight: number, loss: GanLoss = 'gan-cls'): { total: tf.Scalar; adversarial: tf.Scalar } {
  const adversarial = loss === 'wgan-gp' ? (fake.mean().neg() as tf.Scalar) : bce(fake, 1);
  return { total: adversarial.add(kl.mul(klWeight)), adversarial };
}

/**
 * WGAN-GP's critic loss with GAN-CLS's matching-aware terms: the critic scores (real image, its
 * text) high, (real image of another class, the text) and (fake, the text) low, weighted as
 * GAN-CLS weighs them: −real + (wrong + fake)/2, each term a mean over the batch.
 */
export function criticLoss(real: tf.Tensor1D, wrong: tf.Tensor1D, fake: tf.Tensor1D): { total: tf.Scalar; real: tf.Scalar; wrong: tf.Scalar; fake: tf.Scalar } {
  const r = real.mean().neg() as tf.Scalar;
  const w = wrong.mean() as tf.Scalar;
  const f = fake.mean() as tf.Scalar;
  return { total: r.add(w.add(f).div(2)), real: r, wrong: w, fake: f };
}

/**
 * WGAN-GP's gradient penalty (Gulrajani et al. 2017): mean over the batch of (‖∇x̂ critic(x̂)‖ − 1)²
 * at x̂ = ε·real + (1 − ε)·fake, ε in [0, 1] per example ([n]). The critic's outputs are summed
 * before the gradient: each depends on its own example only (no batch norm), so each example's
 * gradient is its own output's. Its gradient with respect to the critic's weights is a second
 * derivative: every op on the critic's path must have a differentiable gradient.
 */
export function gradientPenalty(critic: (images: tf.Tensor4D) => tf.Tensor1D, real: tf.Tensor4D, fake: tf.Tensor4D, epsilon: tf.Tensor1D): tf.Scalar {
  const mixed = fake.add(real.sub(fake).mul(epsilon.reshape([-1, 1, 1, 1]))) as tf.Tensor4D;
  const gradient = tf.grad((x: tf.Tensor) => critic(x as tf.Tensor4D).sum())(mixed);
  // A tiny floor under the square root: its derivative is infinite at 0.
  const norm = gradient.square().sum([1, 2, 3]).add(1e-12).sqrt();
  return norm.sub(1).square().mean() as tf.Scalar;
}

/** Softmax cross-entropy of class logits [n, classes] against class indices [n], averaged over the batch: the auxiliary classifier's loss. */
export function classCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.logSoftmax(logits).mul(tf.oneHot(labels, logits.shape[1])).sum(1).mean().neg() as tf.Scalar;
}

/**
 * A discriminator of either stage, in the parts the losses need: the image's features, before the
 * text joins them; from features and text vectors, one logit (a critic's score under wgan-gp) each;
 * and, with an auxiliary classifier, class logits from the same features.
 */
export interface TextDiscriminator {
  features(images: tf.Tensor4D, mode: Mode): tf.Tensor4D;
  judge(features: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D;
  /** [n, classes]; present when the config's auxClassLoss is above 0. */
  classify?(features: tf.Tensor4D): tf.Tensor2D;
}

/** What the losses read of a stage's config. */
export type LossConfig = Pick<GanTrainingConfig, 'klWeight' | 'loss' | 'gradientPenalty' | 'auxClassLoss'>;

/** The auxiliary classifier's terms: the class cross-entropy of images for the classes of the batch's captions. */
function classLoss(D: TextDiscriminator, features: tf.Tensor4D, labels: tf.Tensor1D | undefined): tf.Scalar {
  if (!D.classify || !labels) throw new Error('auxClassLoss needs a discriminator with an auxiliary classifier head and class labels in the batch');
  return classCrossEntropy(D.classify(features), labels);
}

/**
 * Both sides of a StackGAN training step for either stage: `fakes` draws the generator's images
 * (and its conditioning distribution, for the KL term) for a batch. The discriminator's update
 * takes fakes drawn beforehand, outside its gradient tape: no gradient flows into the generator
 * there, and a tape would hold every activation of the generator's pass until the update ends.
 * The config picks GAN-CLS's or WGAN-GP's losses, and adds the auxiliary classifier's (AC-GAN:
 * the discriminator classifies real images and fakes, each for its caption's class; the generator
 * wants its fakes classified so).
 */
export function ganLosses<B extends GanBatch>(
  D: TextDiscriminator,
  fakes: (batch: B, mode: Mode, rng: Rng) => { fake: tf.Tensor4D; mu: tf.Tensor2D; logSigma: tf.Tensor2D },
  config: LossConfig,
  /** Weighted terms a stage adds to the generator's loss, from the batch and the fakes drawn for it; logged under their names. */
  extraGeneratorTerms?: (batch: B, fake: tf.Tensor4D, mode: Mode) => Record<string, tf.Scalar>,
) {
  const loss = ganSetting(config, 'loss');
  const wgan = loss === 'wgan-gp';
  const penaltyWeight = ganSetting(config, 'gradientPenalty');
  const classWeight = ganSetting(config, 'auxClassLoss');
  return {
    fakeImages: (batch: B, rng: Rng): tf.Tensor4D => tf.tidy(() => fakes(batch, { training: true }, rng).fake),
    discriminatorLoss: (batch: B, fake: tf.Tensor4D, rng: Rng): Losses => {
      // One pass over the three batches stacked (each batch-normalised on its own, as three calls
      // would be): a third of the kernel calls, and each weight gradient computed once, not summed from three.
      const { text } = batch;
      const mode = { training: true, groups: 3 };
      const features = D.features(tf.concat([batch.real, batch.wrong, fake]), mode);
      const [real, wrong, fakes] = tf.split(D.judge(features, tf.concat([text, text, text]), mode), 3) as tf.Tensor1D[];
      const l = (wgan ? criticLoss : discriminatorLoss)(real, wrong, fakes);
      let total = l.total;
      const parts: Record<string, tf.Scalar> = { real: l.real, wrong: l.wrong, fake: l.fake };
      if (wgan) {
        const n = text.shape[0];
        const epsilon = tf.tensor1d(Float32Array.from({ length: n }, () => rng.next()));
        const critic = (images: tf.Tensor4D) => D.judge(D.features(images, { training: true }), text, { training: true });
        parts.penalty = gradientPenalty(critic, batch.real, fake, epsilon);
        total = total.add(parts.penalty.mul(penaltyWeight));
      }
      if (classWeight > 0) {
        const [realFeatures, , fakeFeatures] = tf.split(features, 3) as tf.Tensor4D[];
        parts.class_real = classLoss(D, realFeatures, batch.labels);
        parts.class_fake = classLoss(D, fakeFeatures, batch.labels);
        total = total.add(parts.class_real.add(parts.class_fake).mul(classWeight));
      }
      return { total, parts };
    },
    generatorLoss: (batch: B, mode: Mode, rng: Rng): Losses => {
      const { fake, mu, logSigma } = fakes(batch, mode, rng);
      const kl = klLoss(mu, logSigma);
      const features = D.features(fake, { training: true });
      const l = generatorLoss(D.judge(features, batch.text, { training: true }), kl, config.klWeight, loss);
      let total = l.total;
      const parts: Record<string, tf.Scalar> = { adversarial: l.adversarial, kl };
      if (classWeight > 0) {
        parts.class = classLoss(D, features, batch.labels);
        total = total.add(parts.class.mul(classWeight));
      }
      const extra = extraGeneratorTerms?.(batch, fake, mode) ?? {};
      for (const [name, term] of Object.entries(extra)) {
        parts[name] = term;
        total = total.add(term);
      }
      return { total, parts };
    },
  };
}
