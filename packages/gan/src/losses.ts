import type { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import type { GanBatch } from './batch.ts';
import type { Mode } from './layers.ts';

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

/** The generator wants its fakes taken for real, plus the weighted KL term. */
export function generatorLoss(fake: tf.Tensor1D, kl: tf.Scalar, klWeight: number): { total: tf.Scalar; adversarial: tf.Scalar } {
  const adversarial = bce(fake, 1);
  return { total: adversarial.add(kl.mul(klWeight)), adversarial };
}

/** A discriminator of either stage: images and text vectors to one logit each. */
export interface TextDiscriminator {
  logits(images: tf.Tensor4D, text: tf.Tensor2D, mode: Mode): tf.Tensor1D;
}

/**
 * Both sides of a StackGAN training step for either stage: `fakes` draws the generator's images
 * (and its conditioning distribution, for the KL term) for a batch. The discriminator's update
 * takes fakes drawn beforehand, outside its gradient tape: no gradient flows into the generator
 * there, and a tape would hold every activation of the generator's pass until the update ends.
 */
export function ganClsLosses<B extends GanBatch>(
  D: TextDiscriminator,
  fakes: (batch: B, mode: Mode, rng: Rng) => { fake: tf.Tensor4D; mu: tf.Tensor2D; logSigma: tf.Tensor2D },
  klWeight: number,
  /** Weighted terms a stage adds to the generator's loss, from the batch and the fakes drawn for it; logged under their names. */
  extraGeneratorTerms?: (batch: B, fake: tf.Tensor4D, mode: Mode) => Record<string, tf.Scalar>,
) {
  return {
    fakeImages: (batch: B, rng: Rng): tf.Tensor4D => tf.tidy(() => fakes(batch, { training: true }, rng).fake),
    discriminatorLoss: (batch: B, fake: tf.Tensor4D): Losses => {
      // One pass over the three batches stacked (each batch-normalised on its own, as three calls
      // would be): a third of the kernel calls, and each weight gradient computed once, not summed from three.
      const { text } = batch;
      const logits = D.logits(tf.concat([batch.real, batch.wrong, fake]), tf.concat([text, text, text]), { training: true, groups: 3 });
      const [real, wrong, fakes] = tf.split(logits, 3) as tf.Tensor1D[];
      const l = discriminatorLoss(real, wrong, fakes);
      return { total: l.total, parts: { real: l.real, wrong: l.wrong, fake: l.fake } };
    },
    generatorLoss: (batch: B, mode: Mode, rng: Rng): Losses => {
      const { fake, mu, logSigma } = fakes(batch, mode, rng);
      const kl = klLoss(mu, logSigma);
      const l = generatorLoss(D.logits(fake, batch.text, { training: true }), kl, klWeight);
      const extra = extraGeneratorTerms?.(batch, fake, mode) ?? {};
      return { total: Object.values(extra).reduce((sum: tf.Scalar, t) => sum.add(t), l.total), parts: { adversarial: l.adversarial, kl, ...extra } };
    },
  };
}
