import { tf } from '@t2i/core/runtime';

/**
 * KL(N(mu, sigma^2) || N(0, I)) per dimension, averaged over batch and dimensions as the official
 * StackGAN does: mean(-log sigma + (sigma^2 + mu^2 - 1) / 2).
 */
export function klLoss(mu: tf.Tensor2D, logSigma: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => logSigma.neg().add(logSigma.mul(2).exp().add(mu.square()).sub(1).mul(0.5)).mean() as tf.Scalar);
}

const bce = (logits: tf.Tensor1D, target: 0 | 1): tf.Scalar =>
  tf.losses.sigmoidCrossEntropy(target === 1 ? tf.onesLike(logits) : tf.zerosLike(logits), logits) as tf.Scalar;

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
